import { z } from "zod";
import { RUN_STATUSES, STEP_STATUSES } from "../engine/status.ts";
import { STEP_TYPES } from "../engine/step.ts";
import { LOG_LEVELS } from "../engine/log-level.ts";
import { COMPUTE_ADAPTERS, TOKEN_ROLES, WORKFLOW_RUNTIMES } from "../store/control-store.ts";

/**
 * The zod schemas shared by several routes, named in the OpenAPI document (components). They
 * describe what the API returns; routes validate requests with their own schemas.
 */

/** Every error body: `{ "error": { "code", "message" } }`, the code from src/errors.ts. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe("A stable error code (src/errors.ts), e.g. RUN_NOT_FOUND"),
    message: z.string().describe("What went wrong and what to fix"),
    data: z.record(z.string(), z.unknown()).optional(),
    retryable: z.boolean().optional().describe("true when the same request may succeed if retried (503)"),
  }),
});

export const SerializedError = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

export const RetryPolicySchema = z.object({
  maxAttempts: z.number().int(),
  initialIntervalMs: z.number(),
  maxIntervalMs: z.number(),
  backoffCoefficient: z.number(),
  jitter: z.number(),
  nonRetryableErrors: z.array(z.string()),
});

export const ProgressSchema = z.object({ percent: z.number().nullable(), message: z.string().nullable() });

export const RunSchema = z.object({
  id: z.string(),
  namespace: z.string(),
  type: z.enum(["task", "workflow"]),
  name: z.string(),
  version: z.string().nullable(),
  queue: z.string(),
  priority: z.number().int(),
  concurrencyKey: z.string().nullable(),
  status: z.enum(RUN_STATUSES),
  input: z.unknown(),
  output: z.unknown(),
  error: SerializedError.nullable(),
  attempt: z.number().int(),
  retryPolicy: RetryPolicySchema.nullable(),
  idempotencyKey: z.string().nullable(),
  parentRunId: z.string().nullable(),
  parentStepName: z.string().nullable(),
  rootRunId: z.string(),
  leaseOwner: z.string().nullable(),
  leaseToken: z.number().int(),
  leaseExpiresAt: z.number().nullable(),
  availableAt: z.number().nullable(),
  deadlineAt: z.number().nullable(),
  state: z.record(z.string(), z.string()),
  progress: ProgressSchema.nullable(),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: z.number(),
  updatedAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
});

export const StepSchema = z.object({
  runId: z.string(),
  name: z.string(),
  seq: z.number().int(),
  type: z.enum(STEP_TYPES),
  status: z.enum(STEP_STATUSES),
  output: z.unknown(),
  error: SerializedError.nullable(),
  attempt: z.number().int(),
  wakeAt: z.number().nullable(),
  childRunId: z.string().nullable(),
  eventName: z.string().nullable(),
  eventKey: z.string().nullable(),
  compensable: z.boolean(),
  startedAt: z.number(),
  finishedAt: z.number().nullable(),
});

export const RunWithSteps = RunSchema.extend({ steps: z.array(StepSchema) });

export const LogLevelSchema = z.enum(LOG_LEVELS);

export const LogEntrySchema = z.object({
  runId: z.string(),
  seq: z.number().int(),
  attempt: z.number().int(),
  stepName: z.string().nullable(),
  level: LogLevelSchema,
  message: z.string(),
  ts: z.number(),
});

export const NamespaceSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  adapter: z
    .enum(COMPUTE_ADAPTERS)
    .optional()
    .describe("The compute adapter its hosts must run on; absent: any worker"),
  createdAt: z.number(),
});

export const TokenRoleSchema = z.enum(TOKEN_ROLES);

export const ApiTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  namespace: z.string().describe('A namespace, or "*" for every namespace'),
  role: TokenRoleSchema,
  prefix: z.string().describe("The first characters of the token, to recognize it"),
  createdAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
});

export const SecretInfoSchema = z.object({
  name: z.string(),
  keyId: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
});

export const RuntimeSchema = z.enum(WORKFLOW_RUNTIMES);

export const DeploymentInfoSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  version: z.string(),
  runtime: RuntimeSchema,
  contentHash: z.string().describe("Hex SHA-256 of the source"),
  description: z.string().nullable(),
  createdAt: z.number(),
});

export const WorkerKindSchema = z.object({ kind: z.string(), settings: z.record(z.string(), z.unknown()) });

/** The live-update event of SSE (/v1/stream, logs follow) and WebSocket (/v1/ws). */
export const LiveEventSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("run"), runId: z.string(), status: z.enum(RUN_STATUSES), run: RunSchema }),
  z.object({ type: z.literal("step"), runId: z.string(), step: StepSchema }),
  z.object({ type: z.literal("log"), runId: z.string(), log: LogEntrySchema }),
  z.object({ type: z.literal("progress"), runId: z.string(), progress: ProgressSchema }),
]);

/** A page of a list: `{ items, nextCursor }` (nextCursor null on the last page). */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

/** The schemas named in the OpenAPI components, by name. */
export const NAMED_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  Error: ErrorBody,
  SerializedError,
  RetryPolicy: RetryPolicySchema,
  Progress: ProgressSchema,
  Run: RunSchema,
  Step: StepSchema,
  RunWithSteps,
  LogEntry: LogEntrySchema,
  Namespace: NamespaceSchema,
  ApiToken: ApiTokenSchema,
  SecretInfo: SecretInfoSchema,
  DeploymentInfo: DeploymentInfoSchema,
  WorkerKind: WorkerKindSchema,
  LiveEvent: LiveEventSchema,
};

// Request numbers are bounded to what the columns hold: PostgreSQL rejects an INTEGER over 2^31-1
// or a BIGINT over 2^63-1 with an error (500) instead of a message naming the field.

/** A priority (INTEGER column): within int32. */
export const PrioritySchema = z.number().int().min(-2_147_483_648).max(2_147_483_647);
/** The longest duration a request may ask for (timeouts, delays, retry intervals): 10 years. */
export const MAX_DURATION_MS = 10 * 365 * 24 * 3_600_000;
/** A duration in milliseconds, 0 to MAX_DURATION_MS. */
export const DurationMsSchema = z.number().min(0).max(MAX_DURATION_MS);
/** An epoch-millisecond timestamp: 0 up to the largest JavaScript date. */
export const EpochMsSchema = z.number().min(0).max(8.64e15);
/** A counter (seq, attempt, lease token): a non-negative safe integer. */
export const CounterSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
