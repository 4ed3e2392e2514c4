import { z } from "zod";
import { replaceNul } from "../engine/free-text.ts";
import { STEP_STATUSES } from "../engine/status.ts";
import { STEP_TYPES } from "../engine/step.ts";
import {
  CounterSchema,
  DurationMsSchema,
  EpochMsSchema,
  LogLevelSchema,
  PrioritySchema,
  ProgressSchema,
  SerializedError,
  StepSchema,
} from "./wire-schemas.ts";

/** Request and response schemas of the remote worker protocol (/v1/worker/*). */

const Lease = { runId: z.string().min(1).max(100), leaseToken: CounterSchema };
const StepType = z.enum(STEP_TYPES);

export const WriteResultSchema = z.union([
  z.object({ ok: z.literal(true), cancelRequested: z.boolean() }),
  z.object({ ok: z.literal(false), error: SerializedError }),
]);

export const WriteResults = z.object({ results: z.array(WriteResultSchema) });

export const RegisterBody = z.strictObject({
  name: z.string().min(1).max(200).describe("The worker's name, also its lease owner"),
  version: z.string().min(1).max(64),
  queues: z.array(z.string().min(1)).max(100),
  kinds: z
    .array(z.strictObject({ kind: z.string().min(1).max(200), settings: z.record(z.string(), z.unknown()) }))
    .max(10_000),
  workflows: z.array(z.string().min(1)).max(10_000).optional(),
  releaseLeases: z
    .boolean()
    .optional()
    .describe("This process replaces a previous, gone process of the worker: its leases expire now"),
  concurrency: z.number().int().min(1).max(100_000).optional().describe("How many runs the worker executes at once"),
});

export const ClaimBody = z.strictObject({
  owner: z.string().min(1).max(200),
  queues: z
    .array(z.string().min(1))
    .max(100)
    .optional()
    .describe('Default ["default"]; with limit 0, omitted means every queue'),
  names: z.array(z.string()).max(10_000).optional().describe("Only runs of these task kinds / workflows"),
  limit: z.number().int().min(0).max(1000).describe("0: claim nothing, only wait until runs may be claimable"),
  leaseMs: z.number().int().min(100).max(86_400_000).optional().describe("Default 30000"),
  waitMs: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("Long-poll: wait up to this long for claimable runs (capped by the server)"),
  compact: z
    .boolean()
    .optional()
    .describe(
      "Answer runs in compact form: no null or default fields, no namespace or lease owner when they are the request's, no empty steps",
    ),
});

export const ClaimResponse = z.object({
  runs: z.array(
    z.object({ run: z.unknown(), steps: z.array(StepSchema).optional().describe("Absent: none (compact)") }),
  ),
  nextWakeAt: z.number().nullable(),
  ready: z
    .array(z.object({ namespace: z.string(), queue: z.string() }))
    .describe("Queues notified ready while waiting"),
  deployed: z.boolean().optional().describe("True: a workflow was deployed while waiting (claim again with new names)"),
});

export const HeartbeatBody = z.strictObject({
  owner: z.string().min(1).max(200),
  leaseMs: z.number().int().min(100).max(86_400_000),
  leases: z.array(z.strictObject(Lease)).max(100_000),
});

export const SaveStepItem = z.strictObject({
  ...Lease,
  name: z.string().min(1),
  seq: CounterSchema,
  type: StepType,
  status: z.enum(STEP_STATUSES),
  output: z.unknown().optional(),
  error: SerializedError.nullable().optional(),
  attempt: CounterSchema.min(1).optional(),
  wakeAt: EpochMsSchema.nullable().optional(),
  compensable: z.boolean().optional(),
  compensates: z.string().min(1).optional(),
  startedAt: EpochMsSchema.optional(),
});

export const ChildBody = z.strictObject({
  ...Lease,
  stepName: z.string().min(1),
  seq: CounterSchema,
  child: z.strictObject({
    type: z.enum(["task", "workflow"]),
    name: z.string().min(1),
    input: z.unknown().optional(),
    version: z.string().nullable().optional(),
    queue: z.string().min(1).optional(),
    priority: PrioritySchema.optional(),
    concurrencyKey: z.string().nullable().optional(),
    retryPolicy: z.unknown().optional(),
    timeoutMs: DurationMsSchema.positive().nullable().optional(),
    availableAt: EpochMsSchema.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  }),
});

export const AwaitEventBody = z.strictObject({
  ...Lease,
  stepName: z.string().min(1),
  seq: CounterSchema,
  eventName: z.string().min(1),
  key: z.string().nullable().optional(),
  timeoutAt: EpochMsSchema.nullable().optional(),
});

export const FinishItem = z.union([
  z.strictObject({ ...Lease, outcome: z.literal("complete"), output: z.unknown().optional() }),
  z.strictObject({
    ...Lease,
    outcome: z.literal("fail"),
    error: SerializedError,
    retryAt: EpochMsSchema.optional(),
    compensate: z.boolean().optional(),
  }),
  z.strictObject({
    ...Lease,
    outcome: z.literal("park"),
    status: z.enum(["sleeping", "waiting"]),
    wakeAt: EpochMsSchema.nullable(),
  }),
  z.strictObject({ ...Lease, outcome: z.literal("release") }),
  z.strictObject({ ...Lease, outcome: z.literal("cancelled"), error: SerializedError.optional() }),
  z.strictObject({ ...Lease, outcome: z.literal("compensated"), error: SerializedError.optional() }),
  z.strictObject({ ...Lease, outcome: z.literal("timed_out"), error: SerializedError }),
]);

export const UpdateItem = z.strictObject({
  ...Lease,
  state: z.record(z.string(), z.string().nullable()).optional(),
  progress: ProgressSchema.optional(),
});

export const LogItem = z.strictObject({
  runId: z.string().min(1).max(100),
  attempt: CounterSchema,
  leaseToken: CounterSchema.describe("The lease the line was written under (the run's latest)"),
  // Free text like the message: a NUL is replaced (as the store does), so the batch is never refused.
  stepName: z.string().transform(replaceNul).nullable().optional(),
  level: LogLevelSchema,
  message: z.string(),
  ts: EpochMsSchema.optional(),
});

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The checks of `Lease` above (and of the NUL check of validate(), which this path skips). */
function isLease(item: Record<string, unknown>): boolean {
  const { runId, leaseToken } = item;
  return (
    typeof runId === "string" &&
    runId.length >= 1 &&
    runId.length <= 100 &&
    !runId.includes("\u0000") &&
    Number.isSafeInteger(leaseToken) &&
    (leaseToken as number) >= 0
  );
}

/**
 * The finish body of a drain without zod (the hot path of remote workers): only `items`, each a
 * `complete` (with any output) or a `release`, exactly as FinishItem checks them. Everything else
 * (other outcomes, a claim) returns false and goes through the schema.
 */
export function isPlainFinishBody(body: unknown): boolean {
  if (!isRecord(body)) return false;
  for (const key in body) if (key !== "items") return false;
  const { items } = body;
  if (!Array.isArray(items) || items.length > 10_000) return false;
  for (const item of items) {
    if (!isRecord(item) || !isLease(item)) return false;
    for (const key in item) {
      if (key !== "runId" && key !== "leaseToken" && key !== "outcome" && key !== "output") return false;
    }
    if (item.outcome === "complete" || (item.outcome === "release" && !("output" in item))) continue;
    return false;
  }
  return true;
}
