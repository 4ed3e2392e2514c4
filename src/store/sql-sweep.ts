import { nextRunStatus } from "../engine/run-transitions.ts";
import { isTerminal, type RunStatus } from "../engine/status.ts";
import type { SweepResult } from "../engine/housekeeper.ts";
import { NO_TIMEOUT, PARKED, type SqlKernel, TERMINAL, WOKEN, WORK_SELECT, type WorkRow } from "./sql-kernel.ts";
import { cancelRuns, closeWaits, compensableRuns, descendants, settleTerminal } from "./sql-transitions.ts";

/**
 * The store's housekeeping (Housekeeper.sweep), one transaction: runs past their deadline time
 * out (or compensate first), due parked runs wake, expired events go.
 */
export async function sweep(k: SqlKernel, p: Readonly<{ limit?: number }> = {}): Promise<SweepResult> {
  const limit = Math.max(1, Math.floor(p.limit ?? 1000));
  return k.tx(async (tx) => {
    // A run already winding down (cancelling, compensating) is left to finish its compensations.
    const due = await tx.db.all<WorkRow>(
      `SELECT ${WORK_SELECT} FROM runs
       WHERE deadline_at IS NOT NULL AND status NOT IN ${TERMINAL} AND deadline_at <= ?
         AND status NOT IN ${NO_TIMEOUT}
         AND (lease_owner IS NULL OR lease_expires_at <= ?)
       ORDER BY deadline_at LIMIT ?${k.skipLocked}`,
      [tx.now, tx.now, limit],
    );
    const compensable = await compensableRuns(
      k,
      tx,
      due.map((r) => r.id),
    );
    const ended = due.map((r): WorkRow => {
      const base: WorkRow = {
        ...r,
        error: k.encodeError({
          code: "RUN_TIMEOUT",
          message: `Run ${r.id} did not finish before its deadline`,
          retryable: false,
        }),
        lease_owner: null,
        lease_expires_at: null,
        wake_requested: 0,
        updated_at: tx.now,
      };
      // A timeout compensates like a failure: compensating now, `compensated` when undone.
      const event = compensable.has(r.id) ? "timeout_compensable" : "timeout";
      const status = nextRunStatus(r.status as RunStatus, event) ?? (r.status as RunStatus);
      if (!isTerminal(status)) return { ...base, status, available_at: tx.now };
      return { ...base, status, available_at: null, finished_at: tx.now };
    });
    await k.writeRuns(tx, ended);
    for (const r of ended) if (r.status === "compensating") k.markReady(tx, r.namespace, r.queue);
    await closeWaits(
      k,
      tx,
      ended.map((r) => r.id),
    );
    const timedOut = ended.filter((r) => r.status === "timed_out");
    await settleTerminal(k, tx, timedOut);
    if (ended.length > 0) {
      const children = await descendants(
        k,
        tx,
        ended.map((r) => r.id),
      );
      await cancelRuns(k, tx, children, "the parent run timed out");
    }
    const woken = await tx.db.all<{ namespace: string; queue: string }>(
      `UPDATE runs SET status = ${WOKEN}, available_at = ?, updated_at = ?
       WHERE id IN (SELECT id FROM runs WHERE status IN ${PARKED} AND available_at <= ?
                    LIMIT ?${k.skipLocked})
       RETURNING namespace, queue`,
      [tx.now, tx.now, tx.now, limit],
    );
    for (const w of woken) k.markReady(tx, w.namespace, w.queue);
    // Events past their retention go, delivered or not: retention bounds how long any is kept.
    const eventsDeleted = await tx.db.run(
      `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE expires_at <= ? LIMIT ?${k.skipLocked})`,
      [tx.now, limit],
    );
    return { timedOut: ended.length, woken: woken.length, eventsDeleted };
  });
}
