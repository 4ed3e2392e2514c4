import { KilnError } from "../errors.ts";
import { isTerminal, type RunStatus } from "../engine/status.ts";
import { nextRunStatus, PARKED_RUN_STATUSES, READY_RUN_STATUSES, type RunEvent } from "../engine/run-transitions.ts";
import { enqueueRunDeliveries } from "./sql-webhooks.ts";
import { rowsSource } from "./sql-driver.ts";
import { leaseLost, type SqlKernel, settleAll, TERMINAL, toSerialized, type WorkRow } from "./sql-kernel.ts";
import {
  cancelRuns,
  closeWaits,
  compensableRuns,
  descendants,
  type EndedRun,
  settleParents,
  settleTerminal,
} from "./sql-transitions.ts";
import type { WriteResult } from "../engine/writes.ts";
import type { FinishRunParams } from "../engine/finish.ts";

// How activations end (finishRuns): complete, fail, retry, park, release, cancel, compensate.
// The status each item leads to is the run state machine's (engine/run-transitions.ts); this
// file writes it, gives the lease back, closes waits and settles what a terminal run ends.

export async function finishRuns(
  k: SqlKernel,
  p: Readonly<{ items: readonly FinishRunParams[] }>,
): Promise<WriteResult[]> {
  if (p.items.length === 0) return [];
  if (p.items.every((i) => i.outcome === "complete") && new Set(p.items.map((i) => i.runId)).size === p.items.length) {
    return completeRuns(k, p.items as readonly CompleteItem[]);
  }
  return k.tx(async (tx) => {
    const runs = await k.lockRuns(
      tx,
      p.items.map((i) => i.runId),
    );
    // A run that timed out compensates its completed steps first, as a failed one does.
    const timingOut = p.items.filter((i) => i.outcome === "timed_out").map((i) => i.runId);
    const compensable = await compensableRuns(k, tx, timingOut);
    const results: WriteResult[] = [];
    const changed = new Map<string, WorkRow>();
    const retried: string[] = [];
    for (const item of p.items) {
      const run = runs.get(item.runId);
      const lost = k.fence(run, item);
      if (lost || run === undefined) {
        results.push({ ok: false, error: lost ?? leaseLost(item, run) });
        continue;
      }
      let next: WorkRow;
      try {
        next = finished(k, run, item, tx.now, compensable.has(run.id));
      } catch (error) {
        results.push({ ok: false, error: toSerialized(error) });
        continue;
      }
      runs.set(run.id, next);
      changed.set(run.id, next);
      if (item.outcome === "fail" && item.retryAt !== undefined) retried.push(run.id);
      results.push({ ok: true, cancelRequested: run.cancel_requested === 1 });
    }
    const rows = [...changed.values()];
    const terminal = rows.filter((r) => isTerminal(r.status as RunStatus));
    const closing = rows.filter((r) => WINDING_DOWN.has(r.status as RunStatus)).map((r) => r.id);
    // Before settleTerminal: a parent's step waiting on its cancelled child ends `cancelled`.
    if (closing.length > 0) await closeWaits(k, tx, closing);
    // The writes below are independent of each other: issued together (pipelined on PostgreSQL).
    const retriedList = k.list(retried);
    await settleAll([
      k.writeRuns(tx, rows),
      // A retry is a new attempt: failed steps run again, completed ones are replayed.
      retried.length > 0
        ? tx.db.run(`DELETE FROM steps WHERE run_id ${retriedList.sql} AND status = 'failed'`, retriedList.params)
        : undefined,
      settleTerminal(k, tx, terminal),
    ]);
    for (const r of rows) {
      const claimable = READY_RUN_STATUSES.includes(r.status as RunStatus);
      if (claimable && r.available_at !== null && r.available_at <= tx.now) k.markReady(tx, r.namespace, r.queue);
      // A retry's backoff, a durable sleep, an event wait's timeout: due later.
      else if ((claimable || PARKED_RUN_STATUSES.includes(r.status as RunStatus)) && r.available_at !== null)
        k.markTimer(tx, r.namespace, r.queue, r.available_at);
    }
    const timedOut = timingOut.filter((id) => changed.has(id));
    if (timedOut.length > 0) await cancelRuns(k, tx, await descendants(k, tx, timedOut), "the parent run timed out");
    return results;
  });
}

type CompleteItem = Extract<FinishRunParams, { outcome: "complete" }>;

/**
 * The hot path of finishRuns, a batch of completions (one per run): nothing is decided from the
 * current rows, so the fence goes into the UPDATE itself and the read before it is saved. Same
 * effects as the general path.
 */
async function completeRuns(k: SqlKernel, items: readonly CompleteItem[]): Promise<WriteResult[]> {
  const results: (WriteResult | undefined)[] = [];
  const rows: [string, number, string][] = [];
  for (const [i, item] of items.entries()) {
    try {
      rows.push([item.runId, item.leaseToken, k.encode(item.output, `output of run ${item.runId}`)]);
    } catch (error) {
      results[i] = { ok: false, error: toSerialized(error) };
    }
  }
  if (rows.length === 0) return results as WriteResult[];
  return k.tx(async (tx) => {
    const src = rowsSource(
      k.dialect,
      [
        ["rid", "text"],
        ["tok", "bigint"],
        ["out", "text"],
      ],
      rows,
    );
    const ids = k.list(rows.map((r) => r[0]));
    const keys = k.batchKeys(
      "t.id",
      rows.map((r) => r[0]),
    );
    const [done] = await Promise.all([
      tx.db.all<EndedRun & Pick<WorkRow, "cancel_requested">>(
        `UPDATE runs AS t SET status = 'completed', output = v.out, error = NULL, lease_owner = NULL,
           lease_expires_at = NULL, available_at = NULL, wake_requested = 0, finished_at = ?, updated_at = ?
         FROM ${src.sql}
         WHERE t.id = v.rid AND t.lease_token = v.tok AND t.lease_owner IS NOT NULL AND t.status NOT IN ${TERMINAL}${keys.sql}
         RETURNING id, status, error, parent_run_id, parent_step_name, cancel_requested,
           CASE WHEN parent_run_id IS NULL THEN NULL ELSE output END AS output`,
        [tx.now, tx.now, ...src.params, ...keys.params],
      ),
      // Issued with the UPDATE (and run after it): the completed runs' event waits go. A run that
      // had finished before has none left. Written so that the (usually empty) waits are probed
      // first and a run row is read only for a wait that exists.
      tx.db.run(
        `DELETE FROM event_waits WHERE run_id ${ids.sql}
         AND EXISTS (SELECT 1 FROM runs WHERE runs.id = event_waits.run_id AND runs.status = 'completed')`,
        ids.params,
      ),
      // Issued after the UPDATE too: the outcome's webhook deliveries, in its transaction (an id
      // that did not complete is a fenced-off write, so its status is checked in SQL).
      enqueueRunDeliveries(
        k.dialect,
        tx.db,
        tx.now,
        rows.map((r) => ({ id: r[0], status: "completed" })),
      ),
    ]);
    const completed = new Map(done.map((r) => [r.id, r]));
    const lost = items.filter((item, i) => results[i] === undefined && !completed.has(item.runId));
    const why =
      lost.length === 0
        ? new Map<string, WorkRow>()
        : await k.lockRuns(
            tx,
            lost.map((l) => l.runId),
          );
    for (const [i, item] of items.entries()) {
      if (results[i] !== undefined) continue;
      const row = completed.get(item.runId);
      results[i] = row
        ? { ok: true, cancelRequested: row.cancel_requested === 1 }
        : { ok: false, error: leaseLost(item, why.get(item.runId)) };
    }
    k.markEnded(
      tx,
      done.map((r) => r.id),
    );
    await settleParents(k, tx, done);
    return results as WriteResult[];
  });
}

/** Statuses whose waiting steps are closed (`cancelled`): the run will never resume them. */
const WINDING_DOWN: ReadonlySet<RunStatus> = new Set<RunStatus>([
  "cancelling",
  "compensating",
  "failed",
  "cancelled",
  "compensated",
  "timed_out",
]);

/** The event of the run state machine (engine/run-transitions.ts) that one finishRuns item is. */
function finishEvent(run: WorkRow, item: Readonly<FinishRunParams>, now: number, compensable: boolean): RunEvent {
  switch (item.outcome) {
    case "complete":
      return "finish_complete";
    case "fail":
      if (item.retryAt !== undefined) return "finish_retry";
      return item.compensate ? "finish_fail_compensate" : "finish_fail";
    case "park": {
      const woken = run.wake_requested === 1 || (item.wakeAt !== null && item.wakeAt <= now);
      if (woken) return "finish_park_woken";
      return item.status === "sleeping" ? "finish_park_sleeping" : "finish_park_waiting";
    }
    case "release":
      return "finish_release";
    case "cancelled":
      return "finish_cancelled";
    case "compensated":
      return "finish_compensated";
    case "timed_out":
      return compensable ? "finish_timed_out_compensable" : "finish_timed_out";
  }
}

/**
 * The run after one finishRuns item (the lease is always given back); its status is the state
 * machine's. `compensable`: the run has completed steps with a compensation, so a timeout
 * compensates them before the run ends.
 */
function finished(
  k: SqlKernel,
  run: WorkRow,
  item: Readonly<FinishRunParams>,
  now: number,
  compensable: boolean,
): WorkRow {
  const event = finishEvent(run, item, now, compensable);
  const status = nextRunStatus(run.status as RunStatus, event);
  if (status === undefined) {
    throw new KilnError("INVALID_STATE_TRANSITION", `Run ${run.id} is ${run.status}; it cannot end with ${event}`);
  }
  const base: WorkRow = {
    ...run,
    status,
    lease_owner: null,
    lease_expires_at: null,
    wake_requested: 0,
    updated_at: now,
  };
  if (isTerminal(status)) {
    const ended: WorkRow = { ...base, available_at: null, finished_at: now };
    if (item.outcome === "complete") {
      return { ...ended, error: null, output: k.encode(item.output, `output of run ${run.id}`) };
    }
    return { ...ended, error: "error" in item && item.error ? k.encodeError(item.error) : run.error };
  }
  switch (item.outcome) {
    case "fail":
      if (item.retryAt !== undefined) {
        return { ...base, error: k.encodeError(item.error), attempt: run.attempt + 1, available_at: item.retryAt };
      }
      return { ...base, error: k.encodeError(item.error), available_at: now };
    case "timed_out":
      return { ...base, error: k.encodeError(item.error), available_at: now };
    case "park":
      // A cancellation must go on: the run stays claimable instead of sleeping.
      if (run.status === "cancelling") return { ...base, available_at: now };
      if (event === "finish_park_woken") return { ...base, available_at: now };
      return { ...base, available_at: item.wakeAt };
    default:
      return { ...base, available_at: now };
  }
}
