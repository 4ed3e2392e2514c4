import { z } from "zod";
import { activeTraceparent } from "../../tracing/spans.ts";
import { KilnError } from "../../errors.ts";
import { resolveRetryPolicy } from "../../engine/retry-policy.ts";
import { parseInstant } from "../../engine/schedule-declaration.ts";
import { RUN_STATUSES, type RunStatus } from "../../engine/status.ts";
import type { Store } from "../../store/store.ts";
import type { StartRunParams } from "../../engine/start-run.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { DurationMsSchema, PrioritySchema, StepSchema } from "../../remote/wire-schemas.ts";
import { pageOf, RunSchema, RunWithSteps } from "../api-schemas.ts";
import { startRunWithCallback } from "../run-callback.ts";
import { assertStartable } from "../startable.ts";
import { stripUndefined } from "../strip-undefined.ts";

const RunIdParams = z.object({ id: z.string().min(1).max(100) });

const StartRunBody = z.strictObject({
  type: z.enum(["workflow", "task"]),
  name: z.string().min(1).max(200).describe("The workflow name or task kind"),
  input: z.unknown().optional(),
  idempotencyKey: z
    .string()
    .min(1)
    .max(500)
    .optional()
    .describe("A second start with the same key returns the first run"),
  queue: z.string().min(1).max(200).optional(),
  priority: PrioritySchema.optional().describe("Higher runs first; default 0"),
  concurrencyKey: z.string().min(1).max(500).optional(),
  timeoutMs: DurationMsSchema.positive().optional().describe("The run times out this long after it starts"),
  version: z.string().min(1).max(64).optional().describe("Workflow version; default the latest deployed one"),
  metadata: z.record(z.string(), z.unknown()).optional(),
  retry: z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(1_000_000).optional(),
      initialIntervalMs: DurationMsSchema.optional(),
      maxIntervalMs: DurationMsSchema.optional(),
      backoffCoefficient: z.number().min(1).max(1000).optional(),
      jitter: z.number().min(0).max(1).optional(),
      nonRetryableErrors: z.array(z.string()).optional(),
    })
    .optional()
    .describe("Retry policy of the run (default: the task kind's, or none)"),
  delayMs: DurationMsSchema.optional().describe("Start no earlier than this long from now"),
  startAt: z
    .union([z.string().min(1).max(100), z.number()])
    .optional()
    .describe("Start no earlier than this time (ISO 8601 or epoch ms); the run is listed as scheduled until then"),
  allowUnknown: z
    .boolean()
    .optional()
    .describe("Queue the run even if no deployed workflow or registered worker knows the name (default false)"),
  callbackUrl: z
    .string()
    .min(1)
    .max(2000)
    .optional()
    .describe("POST the run's outcome here (Standard Webhooks, retried)"),
  callbackSecretFrom: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .describe("Secret signing the callback (default WEBHOOK_CALLBACK_SECRET)"),
});

const ListRunsQuery = z.object({
  status: z
    .string()
    .optional()
    .describe(`Comma-separated statuses: ${RUN_STATUSES.join(", ")}`),
  name: z.string().optional(),
  type: z.enum(["workflow", "task"]).optional(),
  parentRunId: z.string().optional(),
  idempotencyKey: z.string().min(1).max(500).optional().describe("The run started with this idempotency key"),
  since: z.string().optional().describe("Created at or after this instant: ISO 8601 or ms since the epoch"),
  until: z.string().optional().describe("Created before this instant: ISO 8601 or ms since the epoch"),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: z.string().optional().describe("The nextCursor of the previous page"),
});

/** An instant of a query: ISO 8601 or milliseconds since the epoch. */
function queryInstant(field: string, text: string | undefined): number | undefined {
  if (text === undefined || text === "") return undefined;
  const ms = parseInstant(/^\d+$/.test(text) ? Number(text) : text, `query.${field}`);
  // Past JavaScript's date range the number cannot be a time (and overflows a BIGINT column).
  if (Math.abs(ms) > MAX_DATE_MS) {
    throw new KilnError(
      "INVALID_INPUT",
      `Invalid request query.${field}: ${text} is beyond the last representable date; give an ISO 8601 time or epoch milliseconds up to ${MAX_DATE_MS}`,
    );
  }
  return ms;
}

/** The largest epoch milliseconds a JavaScript Date holds (year 275760). */
const MAX_DATE_MS = 8.64e15;

function parseStatuses(text: string | undefined): RunStatus[] | undefined {
  if (text === undefined || text === "") return undefined;
  const statuses = text.split(",").map((s) => s.trim());
  for (const s of statuses) {
    if (!(RUN_STATUSES as readonly string[]).includes(s)) {
      throw new KilnError(
        "INVALID_INPUT",
        `Invalid request query.status: unknown status "${s}"; expected a comma-separated list of ${RUN_STATUSES.join(", ")}`,
      );
    }
  }
  return statuses as RunStatus[];
}

/** The version a new workflow run is pinned to: the given one, else the latest deployed (if any). */
async function pinVersion(
  store: Store,
  namespace: string,
  name: string,
  version: string | undefined,
  allowUnknown: boolean,
) {
  const versions = await store.listWorkflowVersions({ namespace, name });
  if (versions.length === 0 && !allowUnknown)
    await assertStartable(store, { namespace, type: "workflow", name, deployed: false });
  if (versions.length === 0) return version ?? null;
  if (version === undefined) return versions[0]?.version ?? null;
  if (!versions.some((v) => v.version === version)) {
    throw new KilnError(
      "WORKFLOW_NOT_FOUND",
      `Workflow "${name}" has no version ${version}; deployed: ${versions.map((v) => v.version).join(", ")}`,
    );
  }
  return version;
}

/** A delayed start (`delayMs` or `startAt`) as the store's `availableAt`; both at once are refused. */
function delayedStart(body: { delayMs?: number | undefined; startAt?: string | number | undefined }, now: number) {
  if (body.delayMs !== undefined && body.startAt !== undefined) {
    throw new KilnError("INVALID_INPUT", 'Pass either "delayMs" or "startAt", not both');
  }
  if (body.delayMs !== undefined) return { availableAt: now + body.delayMs };
  if (body.startAt !== undefined) return { availableAt: parseInstant(body.startAt, "startAt") };
  return {};
}

/** Loads a run of the request's namespace with its steps, or RUN_NOT_FOUND. */
export async function getRunOrThrow(store: Store, namespace: string, id: string) {
  const run = await store.getRun({ namespace, id });
  if (!run) throw new KilnError("RUN_NOT_FOUND", `No run ${id} in namespace "${namespace}"`);
  return run;
}

/** Runs: start, list, get (with steps), cancel, retry, steps. */
export const runRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "POST",
    path: "/v1/runs",
    operationId: "startRun",
    summary: "Start a workflow or task run",
    tag: "runs",
    access: ACCESS.write,
    body: StartRunBody,
    responses: {
      201: { description: "The new run", schema: RunSchema },
      200: { description: "The existing run with this idempotency key", schema: RunSchema },
    },
    async handle({ body, auth, c, deps }) {
      const allowUnknown = body.allowUnknown === true;
      let input: unknown = body.input ?? null;
      if (body.type === "task" && !allowUnknown) {
        const { secretFields } = await assertStartable(deps.store, {
          namespace: auth.namespace,
          type: "task",
          name: body.name,
          deployed: false,
          input,
        });
        // Secret fields never reach the store in the clear (secrets/sealed-input.ts).
        input = deps.vault.sealInput({ namespace: auth.namespace, input, fields: secretFields });
      }
      const version =
        body.type === "workflow"
          ? await pinVersion(deps.store, auth.namespace, body.name, body.version, allowUnknown)
          : (body.version ?? null);
      const params: StartRunParams = {
        namespace: auth.namespace,
        type: body.type,
        name: body.name,
        input,
        version,
        ...(body.idempotencyKey === undefined ? {} : { idempotencyKey: body.idempotencyKey }),
        ...(body.queue === undefined ? {} : { queue: body.queue }),
        ...(body.priority === undefined ? {} : { priority: body.priority }),
        ...(body.concurrencyKey === undefined ? {} : { concurrencyKey: body.concurrencyKey }),
        ...(body.timeoutMs === undefined ? {} : { timeoutMs: body.timeoutMs }),
        ...runMetadata(body.metadata),
        ...(body.retry === undefined ? {} : { retryPolicy: resolveRetryPolicy(stripUndefined(body.retry)) }),
        ...delayedStart(body, deps.clock()),
      };
      const { run, created } =
        body.callbackUrl === undefined
          ? await deps.store.startRun(params)
          : await startRunWithCallback(deps, params, {
              url: body.callbackUrl,
              ...(body.callbackSecretFrom === undefined ? {} : { secretFrom: body.callbackSecretFrom }),
            });
      deps.live.poke([], auth.namespace);
      c.header("Location", `/v1/runs/${run.id}`);
      return c.json(run, created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/runs",
    operationId: "listRuns",
    summary: "List runs, newest first, with filters and cursor pagination",
    tag: "runs",
    access: ACCESS.readRuns,
    query: ListRunsQuery,
    responses: { 200: { description: "A page of runs", schema: pageOf(RunSchema) } },
    async handle({ query, auth, c, deps }) {
      const status = parseStatuses(query.status);
      const createdAfter = queryInstant("since", query.since);
      const createdBefore = queryInstant("until", query.until);
      const page = await deps.store.listRuns({
        namespace: auth.namespace,
        ...(status === undefined ? {} : { status }),
        ...(query.name === undefined ? {} : { name: query.name }),
        ...(query.type === undefined ? {} : { type: query.type }),
        ...(query.parentRunId === undefined ? {} : { parentRunId: query.parentRunId }),
        ...(query.idempotencyKey === undefined ? {} : { idempotencyKey: query.idempotencyKey }),
        ...(createdAfter === undefined ? {} : { createdAfter }),
        ...(createdBefore === undefined ? {} : { createdBefore }),
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
      return c.json({ items: page.runs, nextCursor: page.nextCursor });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/runs/:id",
    operationId: "getRun",
    summary: "Get a run with its steps (attempt, progress, state, output, error)",
    tag: "runs",
    access: ACCESS.readRuns,
    params: RunIdParams,
    responses: { 200: { description: "The run and its steps", schema: RunWithSteps } },
    async handle({ params, auth, c, deps }) {
      const [run, steps] = await Promise.all([
        deps.store.getRun({ namespace: auth.namespace, id: params.id }),
        deps.store.listSteps({ runId: params.id }),
      ]);
      if (!run) throw new KilnError("RUN_NOT_FOUND", `No run ${params.id} in namespace "${auth.namespace}"`);
      return c.json({ ...run, steps });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/runs/:id/steps",
    operationId: "listRunSteps",
    summary: "List the recorded steps of a run, in order",
    tag: "runs",
    access: ACCESS.readRuns,
    params: RunIdParams,
    responses: { 200: { description: "The steps", schema: pageOf(StepSchema) } },
    async handle({ params, auth, c, deps }) {
      await getRunOrThrow(deps.store, auth.namespace, params.id);
      return c.json({ items: await deps.store.listSteps({ runId: params.id }), nextCursor: null });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/runs/:id/cancel",
    operationId: "cancelRun",
    summary: "Cancel a run and its children (compensations run first when declared)",
    tag: "runs",
    access: ACCESS.write,
    params: RunIdParams,
    body: z.strictObject({ reason: z.string().max(1000).optional() }).optional(),
    responses: { 200: { description: "The run, cancelled or cancelling", schema: RunSchema } },
    async handle({ params, body, auth, c, deps }) {
      const run = await deps.store.cancelRun({
        namespace: auth.namespace,
        id: params.id,
        ...(body?.reason === undefined ? {} : { reason: body.reason }),
      });
      deps.live.poke([run.id], auth.namespace);
      return c.json(run);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/runs/:id/retry",
    operationId: "retryRun",
    summary: "Retry a failed, cancelled or timed-out run as a new attempt, optionally from a step",
    tag: "runs",
    access: ACCESS.write,
    params: RunIdParams,
    body: z
      .strictObject({ fromStep: z.string().min(1).optional().describe("Forget this step and every later one") })
      .optional(),
    responses: { 200: { description: "The run, queued again", schema: RunSchema } },
    async handle({ params, body, auth, c, deps }) {
      const run = await deps.store.retryRun({
        namespace: auth.namespace,
        id: params.id,
        ...(body?.fromStep === undefined ? {} : { fromStep: body.fromStep }),
      });
      deps.live.poke([run.id], auth.namespace);
      return c.json(run);
    },
  }),
];

/**
 * The metadata a new run stores: the caller's, plus the request's span as `traceparent` when
 * tracing is on (a caller's own `traceparent` wins), so the run's spans join the request's trace.
 */
function runMetadata(given: Record<string, unknown> | undefined): { metadata?: Record<string, unknown> } {
  const traceparent = given?.traceparent === undefined ? activeTraceparent() : undefined;
  if (traceparent === undefined) return given === undefined ? {} : { metadata: given };
  return { metadata: { ...given, traceparent } };
}
