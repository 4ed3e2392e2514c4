import { z } from "zod";
import { KilnError, type SerializedError } from "../../errors.ts";
import type { Step } from "../../engine/step.ts";
import type {
  AwaitEventParams,
  SaveStepParams,
  StartChildRunParams,
  UpdateRunParams,
  WriteResult,
} from "../../engine/writes.ts";
import type { ClaimRunsResult } from "../../engine/claim.ts";
import type { FinishRunParams } from "../../engine/finish.ts";
import type { LogEntryInput } from "../../engine/log-entry.ts";
import type { StoreNotification } from "../../engine/engine-client.ts";
import { ACCESS, type ApiRoute, type AppContext, defineRoute } from "../api-route.ts";
import { StepSchema } from "../../remote/wire-schemas.ts";
import { leaseKey } from "../run-leases.ts";
import type { ServerDeps } from "../server-deps.ts";
import { compactClaimed } from "../../remote/claim-wire.ts";
import { claimForWorker } from "../worker-claims.ts";
import {
  AwaitEventBody,
  ChildBody,
  ClaimBody,
  ClaimResponse,
  FinishItem,
  HeartbeatBody,
  isPlainFinishBody,
  LogItem,
  RegisterBody,
  SaveStepItem,
  UpdateItem,
  WriteResultSchema,
  WriteResults,
} from "../../remote/worker-schemas.ts";

/**
 * The remote worker protocol: the EngineClient verbs over HTTP for workers holding a worker (or
 * admin) token. Every run a request names must belong to the request's namespace; others get
 * LEASE_LOST, exactly as a run that does not exist. Retried requests carry `Kiln-Attempt: N`
 * (N > 1): a retried write whose first try was committed (its response was lost) is reported ok.
 */

/** Header of a retried request: the attempt number (1 for the first try). */
export const ATTEMPT_HEADER = "kiln-attempt";

function isRetry(c: AppContext): boolean {
  return Number(c.req.header(ATTEMPT_HEADER) ?? "1") > 1;
}

function notInNamespace(runId: string, namespace: string): SerializedError {
  return { code: "LEASE_LOST", message: `Lease on run ${runId} is not valid: no such run in namespace "${namespace}"` };
}

/**
 * Runs a batched fenced write on the items whose run is in the namespace, and answers the others
 * with LEASE_LOST, keeping the order of items.
 */
async function fencedBatch<T extends { readonly runId: string }>(
  deps: ServerDeps,
  namespace: string,
  items: readonly T[],
  write: (allowed: T[]) => Promise<WriteResult[]>,
): Promise<WriteResult[]> {
  const foreign = await deps.runNamespaces.outside(
    namespace,
    items.map((i) => i.runId),
  );
  const allowed = items.filter((i) => !foreign.has(i.runId));
  const written = allowed.length > 0 ? await write(allowed) : [];
  let next = 0;
  return items.map((i) =>
    foreign.has(i.runId)
      ? { ok: false as const, error: notInNamespace(i.runId, namespace) }
      : (written[next++] ?? { ok: false as const, error: { code: "INTERNAL", message: "No result for this item" } }),
  );
}

function sameStep(recorded: Step, item: SaveStepParams): boolean {
  return (
    recorded.status === item.status &&
    JSON.stringify(recorded.output ?? null) === JSON.stringify(item.output ?? null) &&
    (recorded.error?.code ?? null) === (item.error?.code ?? null)
  );
}

/** On a retried request, STEP_ALREADY_RECORDED for the very value sent is the first try's success. */
async function forgiveRecordedSteps(deps: ServerDeps, items: readonly SaveStepParams[], results: WriteResult[]) {
  const suspects = items.filter((_, i) => {
    const r = results[i];
    return r !== undefined && !r.ok && r.error.code === "STEP_ALREADY_RECORDED";
  });
  if (suspects.length === 0) return results;
  const recorded = new Map<string, Step>();
  for (const runId of new Set(suspects.map((s) => s.runId))) {
    for (const s of await deps.store.listSteps({ runId })) recorded.set(`${s.runId}\u0000${s.name}`, s);
  }
  return results.map((r, i) => {
    const item = items[i] as SaveStepParams;
    const step = recorded.get(`${item.runId}\u0000${item.name}`);
    if (!r.ok && r.error.code === "STEP_ALREADY_RECORDED" && step && sameStep(step, item)) {
      return { ok: true as const, cancelRequested: false };
    }
    return r;
  });
}

/**
 * On a retried request, LEASE_LOST on a run that nobody claimed since (same token) and that holds
 * no lease is the first try's finish, committed.
 */
async function forgiveFinishedRuns(
  deps: ServerDeps,
  namespace: string,
  items: readonly FinishRunParams[],
  results: WriteResult[],
) {
  return Promise.all(
    results.map(async (r, i) => {
      const item = items[i] as FinishRunParams;
      if (r.ok || r.error.code !== "LEASE_LOST") return r;
      const run = await deps.store.getRun({ namespace, id: item.runId });
      return run && run.leaseToken === item.leaseToken && run.leaseOwner === null
        ? { ok: true as const, cancelRequested: false }
        : r;
    }),
  );
}

const WORKER = { access: ACCESS.worker, tag: "worker protocol", maxBodyBytes: "worker" } as const;

/** The routes of the remote worker protocol. */
export const workerProtocolRoutes: readonly ApiRoute[] = [
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/register",
    operationId: "workerRegister",
    summary: "Register a worker: name, version, queues, task kinds with their settings",
    body: RegisterBody,
    responses: { 201: { description: "The registration", schema: z.record(z.string(), z.unknown()) } },
    async handle({ body, auth, c, deps }) {
      const registration = await deps.store.registerWorker({
        namespace: auth.namespace,
        name: body.name,
        version: body.version,
        queues: body.queues,
        kinds: body.kinds,
        ...(body.workflows === undefined ? {} : { workflows: body.workflows }),
        ...(body.releaseLeases === undefined ? {} : { releaseLeases: body.releaseLeases }),
        ...(body.concurrency === undefined ? {} : { concurrency: body.concurrency }),
      });
      deps.logger.info({ worker: body.name, namespace: auth.namespace, kinds: body.kinds.length }, "worker registered");
      return c.json(registration, 201);
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/unregister",
    operationId: "workerUnregister",
    summary: "Unregister a worker (graceful shutdown)",
    body: z.strictObject({ name: z.string().min(1).max(200) }),
    responses: { 200: { description: "Whether it was registered", schema: z.object({ removed: z.boolean() }) } },
    async handle({ body, auth, c, deps }) {
      const removed = await deps.store.unregisterWorker({ namespace: auth.namespace, name: body.name });
      return c.json({ removed });
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/claim",
    operationId: "workerClaim",
    summary: "Claim a batch of runs, long-polling up to waitMs for claimable ones (limit 0: only wait)",
    body: ClaimBody,
    responses: { 200: { description: "Claimed runs with their steps", schema: ClaimResponse } },
    async handle({ body, auth, c, deps }) {
      const namespace = auth.namespace;
      const queues = body.queues ?? (body.limit === 0 ? undefined : ["default"]);
      const waitMs = Math.min(body.waitMs ?? 0, deps.limits.maxClaimWaitMs);
      const signal = c.req.raw.signal;
      const deadline = Date.now() + waitMs;
      if (waitMs > 0) await deps.claims.start();
      const interest = waitMs > 0 ? deps.claims.arm(namespace, queues) : undefined;
      try {
        for (;;) {
          const result: ClaimRunsResult =
            body.limit > 0
              ? await claimForWorker(deps, namespace, { ...body, queues: queues ?? ["default"] }, signal)
              : { runs: [], nextWakeAt: await deps.store.getNextWakeAt({ namespace }) };
          if (result.runs.length > 0 || signal.aborted || deadline - Date.now() <= 0 || interest === undefined) {
            const runs = body.compact ? compactClaimed(result.runs, namespace, body.owner) : result.runs;
            return c.json({ runs, nextWakeAt: result.nextWakeAt, ready: [] });
          }
          const remaining = deadline - Date.now();
          const untilTimer =
            body.limit === 0 || result.nextWakeAt === null ? remaining : Math.max(1, result.nextWakeAt - deps.clock());
          const hits: StoreNotification[] = await interest.wait(Math.min(remaining, untilTimer), signal);
          if (interest.takeDeployed()) {
            // The worker's workflow names are stale: answer now so it claims again with new ones.
            return c.json({ runs: [], nextWakeAt: result.nextWakeAt, ready: [], deployed: true });
          }
          if (body.limit === 0 && hits.length > 0) {
            return c.json({ ...result, ready: hits.map((h) => ({ namespace: h.namespace, queue: h.queue })) });
          }
        }
      } finally {
        interest?.dispose();
      }
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/heartbeat",
    operationId: "workerHeartbeat",
    summary: "Extend leases and record the worker's heartbeat; reports lost leases and cancellations",
    body: HeartbeatBody,
    responses: {
      200: {
        description: "Leases lost and runs asked to cancel",
        schema: z.object({ lost: z.array(z.string()), cancelRequested: z.array(z.string()) }),
      },
    },
    async handle({ body, auth, c, deps }) {
      const foreign = await deps.runNamespaces.outside(
        auth.namespace,
        body.leases.map((l) => l.runId),
      );
      const leases = body.leases.filter((l) => !foreign.has(l.runId));
      const [result] = await Promise.all([
        deps.store.extendLeases({ owner: body.owner, leaseMs: body.leaseMs, leases }),
        deps.store.heartbeatWorker({ namespace: auth.namespace, name: body.owner }),
      ]);
      return c.json({ lost: [...result.lost, ...foreign], cancelRequested: result.cancelRequested });
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/steps",
    operationId: "workerSaveSteps",
    summary: "Record steps (fenced by lease token), batched",
    body: z.strictObject({ steps: z.array(SaveStepItem).max(10_000) }),
    responses: { 200: { description: "One result per step, in order", schema: WriteResults } },
    async handle({ body, auth, c, deps }) {
      // JSON has no undefined values: zod's optional fields are absent, never undefined.
      const steps = body.steps as unknown as SaveStepParams[];
      let results = await fencedBatch(deps, auth.namespace, steps, (allowed) =>
        deps.store.saveSteps({ steps: allowed }),
      );
      if (isRetry(c)) results = await forgiveRecordedSteps(deps, steps, results);
      deps.metrics.observeSteps(
        steps.filter((_, i) => results[i]?.ok),
        deps.clock(),
      );
      deps.live.poke(steps.map((s) => s.runId));
      return c.json({ results });
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/child",
    operationId: "workerStartChild",
    summary: "Start a child run for a parent's step (idempotent per parent and step)",
    body: ChildBody,
    responses: {
      200: {
        description: "The write result and the child's id",
        schema: z.intersection(WriteResultSchema, z.object({ childRunId: z.string().optional() })),
      },
    },
    async handle({ body, auth, c, deps }) {
      const params = body as unknown as StartChildRunParams;
      const [result] = await fencedBatch(deps, auth.namespace, [params], async () => [
        await deps.store.startChildRun(params),
      ]);
      const r = result as WriteResult & { childRunId?: string };
      if (r.ok && r.childRunId !== undefined) {
        deps.runNamespaces.remember(auth.namespace, [r.childRunId]);
        deps.live.poke([params.runId], auth.namespace);
      }
      return c.json(r);
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/await-event",
    operationId: "workerAwaitEvent",
    summary: "Consume a buffered event for a step or register the run as waiting for one",
    body: AwaitEventBody,
    responses: {
      200: {
        description: "The write result and the step",
        schema: z.intersection(WriteResultSchema, z.object({ step: StepSchema.optional() })),
      },
    },
    async handle({ body, auth, c, deps }) {
      const params = body as unknown as AwaitEventParams;
      const [result] = await fencedBatch(deps, auth.namespace, [params], async () => [
        await deps.store.awaitEvent(params),
      ]);
      deps.live.poke([params.runId]);
      return c.json(result);
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/finish",
    operationId: "workerFinishRuns",
    summary: "End activations (complete, fail, retry, park, release, cancel, compensate), batched",
    body: z.strictObject({
      items: z.array(FinishItem).max(10_000),
      // No upper bound on limit here: a claim request must never make the finish it rides on fail.
      claim: ClaimBody.omit({ waitMs: true })
        .extend({ limit: z.number().int().min(0) })
        .optional()
        .describe("Claim the next runs in the same round trip (the slots these items free)"),
    }),
    fastBody: isPlainFinishBody,
    responses: {
      200: {
        description: "One result per item, in order, and the runs claimed with `claim`",
        schema: WriteResults.extend({ claimed: ClaimResponse.omit({ ready: true }).optional() }),
      },
    },
    async handle({ body, auth, c, deps }) {
      const items = body.items as unknown as FinishRunParams[];
      let results = await fencedBatch(deps, auth.namespace, items, (allowed) =>
        deps.store.finishRuns({ items: allowed }),
      );
      if (isRetry(c)) results = await forgiveFinishedRuns(deps, auth.namespace, items, results);
      deps.live.poke(
        items.map((i) => i.runId),
        auth.namespace,
      );
      if (body.claim === undefined || body.claim.limit === 0) return c.json({ results });
      const claim = {
        ...body.claim,
        queues: body.claim.queues ?? ["default"],
        limit: Math.min(body.claim.limit, 1000),
      };
      const claimed = await claimForWorker(deps, auth.namespace, claim, c.req.raw.signal);
      if (!claim.compact) return c.json({ results, claimed });
      const runs = compactClaimed(claimed.runs, auth.namespace, claim.owner);
      return c.json({ results, claimed: { runs, nextWakeAt: claimed.nextWakeAt } });
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/update",
    operationId: "workerUpdateRuns",
    summary: "Merge state keys and set progress of leased runs, batched",
    body: z.strictObject({ items: z.array(UpdateItem).max(10_000) }),
    responses: { 200: { description: "One result per item, in order", schema: WriteResults } },
    async handle({ body, auth, c, deps }) {
      const items = body.items as unknown as UpdateRunParams[];
      const results = await fencedBatch(deps, auth.namespace, items, (allowed) =>
        deps.store.updateRuns({ items: allowed }),
      );
      deps.live.poke(
        items.map((i) => i.runId),
        auth.namespace,
      );
      return c.json({ results });
    },
  }),
  defineRoute({
    ...WORKER,
    method: "POST",
    path: "/v1/worker/logs",
    operationId: "workerAppendLogs",
    summary:
      "Append log lines, batched; lines of runs outside the namespace, or under a lease that is not the run's latest, are dropped",
    body: z.strictObject({ entries: z.array(LogItem).max(100_000) }),
    responses: {
      200: {
        description: "How many lines were stored, and how many were dropped",
        schema: z.object({ accepted: z.number().int(), rejected: z.number().int() }),
      },
      409: { description: "LEASE_LOST: no line was under the lease of its run" },
    },
    async handle({ body, auth, c, deps }) {
      const entries = body.entries as unknown as (LogEntryInput & { readonly leaseToken: number })[];
      const foreign = await deps.runNamespaces.outside(
        auth.namespace,
        entries.map((e) => e.runId),
      );
      const inNamespace = entries.filter((e) => !foreign.has(e.runId));
      // A worker token may only write into runs it leases (or leased last: lines flushed after
      // the run finished still belong to it).
      const stale = await deps.runLeases.stale(auth.namespace, inNamespace);
      const accepted = inNamespace
        .filter((e) => !stale.has(leaseKey(e.runId, e.leaseToken)))
        .map(({ leaseToken: _, ...entry }) => entry);
      const rejected = entries.length - accepted.length;
      if (accepted.length === 0 && rejected > 0) {
        throw new KilnError(
          "LEASE_LOST",
          `None of the ${rejected} log lines is under the latest lease of its run; only the worker holding a run's lease may append to its log`,
        );
      }
      await deps.store.appendLogs({ entries: accepted });
      deps.live.poke(accepted.map((e) => e.runId));
      return c.json({ accepted: accepted.length, rejected });
    },
  }),
  defineRoute({
    ...WORKER,
    // Worker tokens only: an admin or developer token never reads plaintext values back.
    access: ACCESS.workerSecrets,
    method: "POST",
    path: "/v1/worker/secrets",
    operationId: "workerSecrets",
    summary: "Decrypted values of the named vault secrets of the namespace, for the run that needs them",
    body: z.strictObject({ names: z.array(z.string().min(1).max(128)).max(1000) }),
    responses: {
      200: {
        description: "Values by name (missing names are left out)",
        schema: z.object({ values: z.record(z.string(), z.string()) }),
      },
    },
    async handle({ body, auth, c, deps }) {
      const values = await deps.vault.getValues({ namespace: auth.namespace, names: body.names });
      c.header("Cache-Control", "no-store");
      return c.json({ values });
    },
  }),
  defineRoute({
    ...WORKER,
    // Worker tokens only, as for vault values: the opened input goes to the worker that runs it.
    access: ACCESS.workerSecrets,
    method: "POST",
    path: "/v1/worker/unseal",
    operationId: "workerUnseal",
    summary: "A run input with its sealed secret fields opened (secret_fields / x-secret of task kinds)",
    body: z.strictObject({ input: z.unknown() }),
    responses: {
      200: { description: "The opened input", schema: z.object({ input: z.unknown() }) },
    },
    async handle({ body, auth, c, deps }) {
      const input = deps.vault.unsealInput({ namespace: auth.namespace, input: body.input });
      c.header("Cache-Control", "no-store");
      return c.json({ input });
    },
  }),
];
