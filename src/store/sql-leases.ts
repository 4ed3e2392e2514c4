import { rowsSource } from "./sql-driver.ts";
import { type SqlKernel, TERMINAL, unique } from "./sql-kernel.ts";
import type { ExtendLeasesParams, ExtendLeasesResult } from "../engine/lease.ts";

// Heartbeats of workers (extendLeases): a lease is extended only while its token is current.

export async function extendLeases(k: SqlKernel, p: Readonly<ExtendLeasesParams>): Promise<ExtendLeasesResult> {
  if (p.leases.length === 0) return { lost: [], cancelRequested: [] };
  return k.tx(async (tx) => {
    const src = rowsSource(
      k.dialect,
      [
        ["rid", "text"],
        ["tok", "bigint"],
      ],
      p.leases.map((l) => [l.runId, l.leaseToken]),
    );
    const keys = k.batchKeys(
      "t.id",
      p.leases.map((l) => l.runId),
    );
    const extending = tx.db.all<{ id: string; cancel_requested: number }>(
      `UPDATE runs AS t SET lease_expires_at = ? FROM ${src.sql}
       WHERE t.id = v.rid AND t.lease_token = v.tok AND t.lease_owner = ? AND t.status NOT IN ${TERMINAL}${keys.sql}
       RETURNING id, cancel_requested`,
      [tx.now + p.leaseMs, ...src.params, p.owner, ...keys.params],
    );
    k.commit(tx);
    const kept = await extending;
    const alive = new Set(kept.map((k) => k.id));
    return {
      lost: unique(p.leases.map((l) => l.runId).filter((id) => !alive.has(id))),
      cancelRequested: kept.filter((k) => k.cancel_requested === 1).map((k) => k.id),
    };
  });
}

/**
 * Records steps (Store.saveSteps) in one burst of statements: lock the runs (for the fence
 * verdicts), upsert the fenced, unsettled steps (the fence and the settled guard are in the
 * statement itself), and withdraw the event waits of steps now settled. Each item then reads its
 * verdict: LEASE_LOST, STEP_ALREADY_RECORDED, or written.
 */
