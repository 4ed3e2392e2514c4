import type { ClaimRunsResult } from "../engine/claim.ts";
import type { ServerDeps } from "./server-deps.ts";

/** What a worker asks to claim. */
export interface ClaimRequest {
  readonly owner: string;
  readonly queues: readonly string[];
  readonly names?: readonly string[] | undefined;
  readonly limit: number;
  readonly leaseMs?: number | undefined;
}

/**
 * One claim for a remote worker: the store's claim (timed for metrics), the claimed runs' namespace
 * remembered for later fenced writes, live feeds poked. If the worker hung up meanwhile, the runs
 * are given back at once instead of waiting for their leases to expire.
 */
export async function claimForWorker(
  deps: ServerDeps,
  namespace: string,
  request: ClaimRequest,
  signal?: AbortSignal,
): Promise<ClaimRunsResult> {
  const stop = deps.metrics.claimDuration.startTimer({ namespace });
  const result = await deps.store.claimRuns({
    namespace,
    queues: request.queues,
    owner: request.owner,
    limit: request.limit,
    leaseMs: request.leaseMs ?? 30_000,
    ...(request.names === undefined ? {} : { names: request.names }),
  });
  stop();
  if (result.runs.length === 0) return result;
  if (signal?.aborted) {
    await deps.store.finishRuns({
      items: result.runs.map((r) => ({ runId: r.run.id, leaseToken: r.run.leaseToken, outcome: "release" as const })),
    });
    return { runs: [], nextWakeAt: result.nextWakeAt };
  }
  const ids = result.runs.map((r) => r.run.id);
  deps.runNamespaces.remember(namespace, ids);
  deps.runLeases.remember(
    result.runs.map((r) => ({ runId: r.run.id, leaseToken: r.run.leaseToken, leaseExpiresAt: r.run.leaseExpiresAt })),
  );
  deps.metrics.claimedRuns.inc({ namespace }, ids.length);
  deps.live.poke(ids, namespace);
  return result;
}
