import type { SerializedError } from "../errors.ts";
import { KilnError } from "../errors.ts";
import { nextRunStatus, statusesAllowing } from "../engine/run-transitions.ts";
import { isTerminal, type RunStatus } from "../engine/status.ts";
import { rowsSource } from "./sql-driver.ts";
import { enqueueRunDeliveries } from "./sql-webhooks.ts";
import {
  PARKED,
  SETTLED,
  type SqlKernel,
  settleAll,
  TERMINAL,
  type Tx,
  unique,
  WOKEN,
  WORK_SELECT,
  type WorkRow,
} from "./sql-kernel.ts";

// What happens to other rows when runs change state: wake-ups, parents settling when a child ends,
// cancellation spreading to descendants. Shared by the fenced writes, cancelRun and sweep.

/** Wakes runs: parked ones go back to queued; a leased one is told to look again. */
export async function wakeRuns(k: SqlKernel, tx: Tx, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const list = k.list(unique(ids));
  const rows = await tx.db.all<{ namespace: string; queue: string; lease_owner: string | null }>(
    `UPDATE runs SET
       status = CASE WHEN status IN ${PARKED} THEN ${WOKEN} ELSE status END,
       available_at = CASE WHEN lease_owner IS NULL AND status IN ('sleeping', 'waiting', 'cancelling', 'compensating')
         THEN ? ELSE available_at END,
       wake_requested = CASE WHEN lease_owner IS NOT NULL THEN 1 ELSE wake_requested END,
       updated_at = ?
     WHERE id ${list.sql} AND status NOT IN ${TERMINAL}
     RETURNING namespace, queue, lease_owner`,
    [tx.now, tx.now, ...list.params],
  );
  for (const r of rows) if (r.lease_owner === null) k.markReady(tx, r.namespace, r.queue);
}

/**
 * Effects of runs reaching a terminal status, in the same transaction: their event waits go,
 * each child's step in its parent settles (output, or CHILD_FAILED) and the parent wakes, the
 * outcome's webhook deliveries enter the outbox, and whoever awaits the runs is told at commit.
 * The runs' rows must be written (or their writes issued) before this is called.
 */
export async function settleTerminal(k: SqlKernel, tx: Tx, runs: readonly WorkRow[]): Promise<void> {
  if (runs.length === 0) return;
  k.markEnded(
    tx,
    runs.map((r) => r.id),
  );
  const ids = k.list(runs.map((r) => r.id));
  await settleAll([
    tx.db.run(`DELETE FROM event_waits WHERE run_id ${ids.sql}`, ids.params),
    enqueueRunDeliveries(k.dialect, tx.db, tx.now, runs),
    settleParents(k, tx, runs),
  ]);
}

/** What settling a parent needs to know of a child that ended. */
export type EndedRun = Pick<WorkRow, "id" | "status" | "error" | "parent_run_id" | "parent_step_name" | "output">;

/** Settles the parents' steps of children that ended (output, or CHILD_FAILED) and wakes them. */
export async function settleParents(k: SqlKernel, tx: Tx, runs: readonly EndedRun[]): Promise<void> {
  const children = runs.filter((r) => r.parent_run_id !== null && r.parent_step_name !== null);
  if (children.length === 0) return;
  const parents = unique(children.map((c) => c.parent_run_id as string));
  if (k.dialect === "postgres") {
    // Lock parents before their steps, the order every other writer follows (run, then steps).
    const list = k.list(parents);
    await tx.db.all(`SELECT id FROM runs WHERE id ${list.sql} ORDER BY id FOR UPDATE`, list.params);
  }
  const src = rowsSource(
    k.dialect,
    [
      ["pid", "text"],
      ["pstep", "text"],
      ["cid", "text"],
      ["st", "text"],
      ["out", "text"],
      ["err", "text"],
    ],
    children.map((c) => {
      const ok = c.status === "completed";
      const error: SerializedError | null = ok
        ? null
        : {
            code: "CHILD_FAILED",
            message: `Child run ${c.id} ended ${c.status}`,
            data: { childRunId: c.id, status: c.status, error: c.error === null ? null : JSON.parse(c.error) },
          };
      return [
        c.parent_run_id,
        c.parent_step_name,
        c.id,
        ok ? "completed" : "failed",
        ok ? (c.output ?? "null") : null,
        error === null ? null : k.encodeError(error),
      ];
    }),
  );
  const keys = k.batchKeys("t.run_id", parents);
  const settled = await tx.db.all<{ run_id: string }>(
    `UPDATE steps AS t SET status = v.st, output = v.out, error = v.err, finished_at = ?, wake_at = NULL
     FROM ${src.sql}
     WHERE t.run_id = v.pid AND t.name = v.pstep AND t.child_run_id = v.cid AND t.status NOT IN ${SETTLED}${keys.sql}
     RETURNING run_id`,
    [tx.now, ...src.params, ...keys.params],
  );
  await wakeRuns(
    k,
    tx,
    settled.map((s) => s.run_id),
  );
}

/** The non-terminal descendants of runs (locked), breadth first. */
export async function descendants(k: SqlKernel, tx: Tx, ids: readonly string[]): Promise<WorkRow[]> {
  const found: WorkRow[] = [];
  const seen = new Set(ids);
  let frontier = [...ids];
  while (frontier.length > 0) {
    const list = k.list(frontier);
    const rows = await tx.db.all<WorkRow>(
      `SELECT ${WORK_SELECT} FROM runs WHERE parent_run_id IS NOT NULL AND parent_run_id ${list.sql}
       AND status NOT IN ${TERMINAL} ORDER BY id${k.forUpdate}`,
      list.params,
    );
    frontier = [];
    for (const row of rows) {
      if (seen.has(row.id)) continue;
      seen.add(row.id);
      found.push(row);
      frontier.push(row.id);
    }
  }
  return found;
}

/**
 * Closes the durable waits (sleep, event, child) of runs that are cancelled, timed out or
 * compensating: their `waiting` steps become `cancelled` and their event waits go, so no event is
 * consumed by a run that will never read it. Runs before settleParents in the same transaction,
 * so a parent's step waiting on a child it cancels ends `cancelled`, not `failed`.
 */
export async function closeWaits(k: SqlKernel, tx: Tx, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const list = k.list(unique(ids));
  await settleAll([
    tx.db.run(
      `UPDATE steps SET status = 'cancelled', finished_at = ? WHERE run_id ${list.sql} AND status = 'waiting'`,
      [tx.now, ...list.params],
    ),
    tx.db.run(`DELETE FROM event_waits WHERE run_id ${list.sql}`, list.params),
  ]);
}

/**
 * Closes only the waits on child runs of runs a worker still holds: the worker never writes
 * those steps itself (the store settles them), whereas it may be completing a sleep or timing out
 * an event wait right now; those close when it gives the run back (finishRuns).
 */
async function closeChildWaits(k: SqlKernel, tx: Tx, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const list = k.list(unique(ids));
  await tx.db.run(
    `UPDATE steps SET status = 'cancelled', finished_at = ?
     WHERE run_id ${list.sql} AND status = 'waiting' AND type = 'child'`,
    [tx.now, ...list.params],
  );
}

/** The runs among `ids` with a completed step that declared a compensation (saga). */
export async function compensableRuns(k: SqlKernel, tx: Tx, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const list = k.list(unique(ids));
  const found = await tx.db.all<{ run_id: string }>(
    `SELECT DISTINCT run_id FROM steps WHERE run_id ${list.sql} AND compensable = 1 AND status = 'completed'`,
    list.params,
  );
  return new Set(found.map((f) => f.run_id));
}

/**
 * Cancels non-terminal runs: a leased one becomes `cancelling` (its worker finds out); an
 * unleased one with compensable completed steps becomes `cancelling` and claimable (the claim
 * turns it `compensating` and a worker compensates); any other becomes `cancelled` at once.
 * Their waiting steps are closed as `cancelled` (a leased run's waits on children only; the rest
 * when its worker gives it back).
 */
export async function cancelRuns(
  k: SqlKernel,
  tx: Tx,
  rows: readonly WorkRow[],
  reason: string | undefined,
): Promise<void> {
  // A run the event leaves as it is (already cancelling) or refuses (terminal) is not touched.
  const todo = rows.filter((r) => {
    const to = nextRunStatus(r.status as RunStatus, r.lease_owner === null ? "cancel" : "cancel_leased");
    return to !== undefined && to !== r.status;
  });
  if (todo.length === 0) return;
  const error = k.encodeError({
    code: "RUN_CANCELLED",
    message: reason ? `Run cancelled: ${reason}` : "Run cancelled",
  });
  const compensable = await compensableRuns(
    k,
    tx,
    todo.filter((r) => r.lease_owner === null).map((r) => r.id),
  );
  const changed: WorkRow[] = [];
  const terminal: WorkRow[] = [];
  for (const row of todo) {
    const event =
      row.lease_owner !== null ? "cancel_leased" : compensable.has(row.id) ? "cancel_compensable" : "cancel";
    const status = nextRunStatus(row.status as RunStatus, event);
    if (status === undefined) continue;
    const base = { ...row, status, error, cancel_requested: 1, updated_at: tx.now };
    if (event === "cancel_leased") {
      changed.push(base);
    } else if (!isTerminal(status)) {
      changed.push({ ...base, available_at: tx.now });
      k.markReady(tx, row.namespace, row.queue);
    } else {
      const done = { ...base, available_at: null, wake_requested: 0, finished_at: tx.now };
      changed.push(done);
      terminal.push(done);
    }
  }
  await k.writeRuns(tx, changed);
  await closeWaits(
    k,
    tx,
    todo.filter((r) => r.lease_owner === null).map((r) => r.id),
  );
  await closeChildWaits(
    k,
    tx,
    todo.filter((r) => r.lease_owner !== null).map((r) => r.id),
  );
  await settleTerminal(k, tx, terminal);
}

/** INVALID_STATE_TRANSITION: the run is not in a status `retry` leaves. */
export function notRetryable(run: Pick<WorkRow, "id" | "status">): KilnError {
  return new KilnError(
    "INVALID_STATE_TRANSITION",
    `Run ${run.id} is ${run.status}; only ${statusesAllowing("retry").join(", ")} runs can be retried`,
  );
}

/**
 * Puts a finished run back in its queue as a new attempt (retryRun, or a parent re-running the
 * step of a failed child). With `fromSeq`, steps from that seq on are forgotten; else failed ones.
 * Either way the saga is undone too: compensated steps (their effect was undone), closed waits and
 * the compensation records are forgotten, so those steps run again and a later failure compensates
 * them again. The new attempt gets the run's whole time budget again.
 */
export async function requeueRun(k: SqlKernel, tx: Tx, run: WorkRow, fromSeq?: number): Promise<void> {
  const requeued = nextRunStatus(run.status as RunStatus, "retry");
  if (requeued === undefined) throw notRetryable(run);
  const undone = "status IN ('compensated', 'cancelled') OR type = 'compensation'";
  if (fromSeq !== undefined) {
    await tx.db.run(`DELETE FROM steps WHERE run_id = ? AND (seq >= ? OR ${undone})`, [run.id, fromSeq]);
  } else {
    await tx.db.run(`DELETE FROM steps WHERE run_id = ? AND (status = 'failed' OR ${undone})`, [run.id]);
  }
  await tx.db.run(
    `UPDATE runs SET status = ?, attempt = attempt + 1, error = NULL, output = NULL, finished_at = NULL,
       available_at = ?, lease_owner = NULL, lease_expires_at = NULL, wake_requested = 0, cancel_requested = 0,
       deadline_at = CASE WHEN deadline_at IS NULL THEN NULL ELSE ? + (deadline_at - created_at) END, updated_at = ?
     WHERE id = ?`,
    [requeued, tx.now, tx.now, tx.now, run.id],
  );
  k.markReady(tx, run.namespace, run.queue);
}
