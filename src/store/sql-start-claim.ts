import type { HandoffOffer } from "../engine/handoff.ts";
import type { LocalHandoff } from "./local-handoff.ts";
import { CLAIMED_COLUMNS, LIMITED } from "./sql-claim.ts";
import { CLAIM_SET, type SqlKernel } from "./sql-kernel.ts";
import { type RunRow, rowToRun } from "./sql-rows.ts";
import type { StartRunParams, StartRunResult } from "../engine/start-run.ts";

/**
 * Starts runs (fresh ids, no idempotency keys) and, in the same transaction, leases each ready one
 * that an idle worker of this process offered to take — the claim that worker would otherwise make
 * after being notified. A run in a queue with limits is not leased here (the claim counts its
 * slots); it is announced as usual. The workers get their runs after the commit.
 */
export async function startRunsHandedOver(
  k: SqlKernel,
  handoff: LocalHandoff,
  runs: readonly StartRunParams[],
): Promise<StartRunResult[]> {
  // Reservations of the transaction's current attempt (a retried attempt gives the last ones back).
  let reserved = new Map<string, HandoffOffer>();
  const leased: { offer: HandoffOffer; row: RunRow }[] = [];
  let results: StartRunResult[];
  try {
    results = await startAndLease();
  } catch (error) {
    for (const offer of reserved.values()) offer.unreserve();
    throw error;
  }
  // Committed: each worker gets its run (token 1: nothing recorded yet, no steps to replay).
  const byId = new Map(leased.map((l) => [l.row.id, l]));
  for (const { offer, row } of leased) offer.take({ run: rowToRun(row), steps: [] });
  return results.map((r) => {
    const l = byId.get(r.run.id);
    return l ? { run: rowToRun(l.row), created: true } : r;
  });

  function startAndLease(): Promise<StartRunResult[]> {
    return k.tx(async (tx) => {
      for (const offer of reserved.values()) offer.unreserve();
      reserved = new Map();
      leased.length = 0;
      const rows = runs.map((r) => k.newRunRow(r, tx.now));
      for (const row of rows) {
        if (row.available_at === null || row.available_at > tx.now) continue;
        const offer = handoff.reserve(row);
        if (offer) reserved.set(row.id, offer);
      }
      const inserting = k.insertRuns(tx, rows, new Set(reserved.keys()));
      const byOffer = new Map<HandoffOffer, string[]>();
      for (const [id, offer] of reserved) byOffer.set(offer, [...(byOffer.get(offer) ?? []), id]);
      // Issued with the INSERT (pipelined on PostgreSQL), run after it.
      const claiming = [...byOffer].map(([offer, ids]) => {
        const list = k.list(ids);
        return tx.db.all<RunRow>(
          `UPDATE runs SET ${CLAIM_SET}
         WHERE id ${list.sql} AND lease_owner IS NULL AND status = 'queued'
           AND NOT EXISTS (SELECT 1 FROM queues WHERE queues.namespace = runs.namespace AND queues.name = runs.queue AND ${LIMITED})
         RETURNING ${CLAIMED_COLUMNS}`,
          [offer.owner, tx.now + offer.leaseMs, tx.now, tx.now, ...list.params],
        );
      });
      const started = await inserting;
      const claimed = new Map((await Promise.all(claiming)).flat().map((row) => [row.id, row]));
      for (const row of rows) {
        const offer = reserved.get(row.id);
        if (offer === undefined) continue;
        const claimedRow = claimed.get(row.id);
        if (claimedRow) {
          leased.push({ offer, row: claimedRow });
          continue;
        }
        // Not leased (a queue with limits): announced as any other start, its slot given back.
        reserved.delete(row.id);
        offer.unreserve();
        k.markReady(tx, row.namespace, row.queue);
      }
      return started;
    });
  }
}
