import { KilnError } from "../errors.ts";
import type { Step } from "../engine/step.ts";
import {
  CLAIM_SET,
  PARKED,
  READY,
  type SqlKernel,
  type Tx,
  unique,
  UNINDEXED_NAMESPACE,
  WAKE_BATCH,
  WOKEN,
} from "./sql-kernel.ts";
import { type QueueRow, RUN_COLUMNS, type RunRow, rowToRun, rowToStep, type StepRow } from "./sql-rows.ts";
import type { ClaimedRun, ClaimRunsParams, ClaimRunsResult } from "../engine/claim.ts";

/** A queue row with flow control. */
export const LIMITED = "(concurrency_limit IS NOT NULL OR key_concurrency_limit IS NOT NULL)";

/**
 * What a claim returns of each run: every column but those a claimable run never has set
 * (`output`, `finished_at`: it is not terminal); rowToRun reads them as null.
 */
export const CLAIMED_COLUMNS = RUN_COLUMNS.filter((c) => c !== "output" && c !== "finished_at").join(", ");

/** The most runs one claim takes. */
const MAX_CLAIM = 1000;

/**
 * Claims up to `limit` runs (see Store.claimRuns). In the common case — one queue without limits —
 * a claim is one burst of statements (pipelined on PostgreSQL): wake due timers, read the queue's
 * limits, and one UPDATE … RETURNING * that takes over expired leases and claims the first ready
 * runs. Only replayed runs read their steps; only a short claim looks for the next timer.
 */
export async function claimRuns(k: SqlKernel, p: Readonly<ClaimRunsParams>): Promise<ClaimRunsResult> {
  if (!(Number.isFinite(p.leaseMs) && p.leaseMs > 0)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "leaseMs" to be a positive number, got ${JSON.stringify(p.leaseMs)}`,
    );
  }
  // One claim takes at most MAX_CLAIM runs; a worker asking for more comes back for the rest.
  const limit = Math.min(Math.floor(p.limit), MAX_CLAIM);
  if (!(limit > 0) || p.queues.length === 0) return { runs: [], nextWakeAt: null };
  return k.tx(async (tx) => {
    const queueNames = unique(p.queues);
    const queues = k.list(queueNames);
    const names = p.names === undefined ? undefined : k.list(p.names);
    const nameSql = names === undefined ? "" : ` AND name ${names.sql}`;
    const nameParams = names?.params ?? [];
    const claimParams = [p.owner, tx.now + p.leaseMs, tx.now, tx.now];
    const single = queueNames.length === 1;

    // Issued together. On SQLite, due timers are woken first, so that woken runs compete in this
    // claim. On PostgreSQL the claim takes due timers directly (a wake-up is then one row update,
    // not two) and only those left over are woken after it, for other workers. Runs whose worker
    // vanished (lease expired) are taken over; they already count against any limit.
    const wake = () =>
      tx.db.all<{ queue: string }>(
        `UPDATE runs SET status = ${WOKEN}, available_at = ?, updated_at = ?
         WHERE id IN (SELECT id FROM runs WHERE status IN ${PARKED} AND available_at <= ?
                      AND ${UNINDEXED_NAMESPACE} = ? AND COALESCE(queue, '') ${queues.sql}
                      LIMIT ${WAKE_BATCH}${k.skipLocked})
         RETURNING queue`,
        [tx.now, tx.now, tx.now, p.namespace, ...queues.params],
      );
    const pg = k.dialect === "postgres";
    const wokenFirst = pg ? undefined : wake();
    const issued = Promise.all([
      tx.db.all<QueueRow>(
        `SELECT namespace, name, concurrency_limit, key_concurrency_limit FROM queues
         WHERE namespace = ? AND name ${queues.sql} AND ${LIMITED}`,
        [p.namespace, ...queues.params],
      ),
      single && k.dialect === "postgres"
        ? // Expired leases, then ready runs unless the queue has limits (then pickReady below): one
          // statement, so one round trip.
          tx.db.all<RunRow>(
            `UPDATE runs SET ${CLAIM_SET}
             WHERE id IN (SELECT id FROM (
               SELECT id, 0 AS tier, lease_expires_at AS k1, 0 AS k2 FROM (
                 SELECT id, lease_expires_at FROM runs
                 WHERE lease_owner IS NOT NULL AND namespace = ? AND queue = ? AND lease_expires_at <= ?${nameSql}
                 ORDER BY lease_expires_at, id LIMIT ?${k.skipLocked}) AS expired
               UNION ALL
               SELECT id, 1 AS tier, -priority AS k1, available_at AS k2 FROM (
                 SELECT id, priority, available_at FROM runs
                 WHERE lease_owner IS NULL AND status IN ${READY}
                   AND namespace = ? AND queue = ? AND available_at <= ?${nameSql}
                   AND NOT EXISTS (SELECT 1 FROM queues WHERE namespace = ? AND name = ? AND ${LIMITED})
                 ORDER BY priority DESC, available_at, id LIMIT ?${k.skipLocked}) AS ready
               UNION ALL
               SELECT id, 1 AS tier, -priority AS k1, available_at AS k2 FROM (
                 SELECT id, priority, available_at FROM runs
                 WHERE status IN ${PARKED} AND available_at <= ?
                   AND ${UNINDEXED_NAMESPACE} = ? AND COALESCE(queue, '') = ?${nameSql}
                   AND NOT EXISTS (SELECT 1 FROM queues WHERE namespace = ? AND name = ? AND ${LIMITED})
                 ORDER BY available_at LIMIT ?${k.skipLocked}) AS due
             ) AS candidates ORDER BY tier, k1, k2, id LIMIT ?)
             RETURNING ${CLAIMED_COLUMNS}`,
            [
              ...claimParams,
              ...[p.namespace, queueNames[0] as string, tx.now, ...nameParams, limit],
              ...[p.namespace, queueNames[0] as string, tx.now, ...nameParams],
              ...[p.namespace, queueNames[0] as string, limit],
              ...[tx.now, p.namespace, queueNames[0] as string, ...nameParams],
              ...[p.namespace, queueNames[0] as string, limit, limit],
            ],
          )
        : // SQLite answers in-process: the expired-lease probe is an empty index range in the
          // common case, and the ready runs are claimed by a plain statement right after.
          tx.db.all<RunRow>(
            `UPDATE runs SET ${CLAIM_SET}
             WHERE id IN (SELECT id FROM runs WHERE lease_owner IS NOT NULL AND namespace = ? AND queue ${queues.sql}
                          AND lease_expires_at <= ?${nameSql} ORDER BY lease_expires_at, id LIMIT ?${k.skipLocked})
             RETURNING ${CLAIMED_COLUMNS}`,
            [...claimParams, p.namespace, ...queues.params, tx.now, ...nameParams, limit],
          ),
      // Only a short claim reports it, but asking now costs no round trip.
      k.nextWakeAt(tx.db, tx.now, p.namespace),
    ]);
    const wokenLater = wokenFirst ?? wake();
    // Both are awaited below; this only keeps a failure of one from going unhandled meanwhile.
    wokenLater.catch(() => {});
    const [settings, first, timer] = await issued;
    const woken = await wokenLater;
    for (const queue of unique(woken.map((w) => w.queue))) k.markReady(tx, p.namespace, queue);

    const claimed = [...first];
    const room = limit - claimed.length;
    if (room > 0 && single && settings.length === 0 && k.dialect !== "postgres") {
      claimed.push(
        ...(await tx.db.all<RunRow>(
          `UPDATE runs SET ${CLAIM_SET}
           WHERE id IN (SELECT id FROM runs
             WHERE lease_owner IS NULL AND status IN ${READY}
               AND namespace = ? AND queue = ? AND available_at <= ?${nameSql}
             ORDER BY priority DESC, available_at, id LIMIT ?)
           RETURNING ${CLAIMED_COLUMNS}`,
          [...claimParams, p.namespace, queueNames[0] as string, tx.now, ...nameParams, room],
        )),
      );
    } else if (room > 0 && (!single || settings.length > 0)) {
      const picked = await pickReady(k, tx, p, queueNames, settings, room);
      if (picked.length > 0) {
        const list = k.list(picked);
        claimed.push(
          ...(await tx.db.all<RunRow>(
            `UPDATE runs SET ${CLAIM_SET} WHERE id ${list.sql} RETURNING ${CLAIMED_COLUMNS}`,
            [...claimParams, ...list.params],
          )),
        );
      }
    }
    // A full batch means the worker comes straight back; only a short one needs the next timer.
    const nextWakeAt = claimed.length < limit ? timer : null;
    if (claimed.length === 0) return { runs: [], nextWakeAt };

    // A run claimed for the first time (token 1) has recorded nothing yet: only replays read steps.
    const replays = claimed.filter((r) => r.lease_token > 1).map((r) => r.id);
    const list = k.list(replays);
    const steps =
      replays.length > 0
        ? await tx.db.all<StepRow>(
            `SELECT * FROM steps WHERE run_id ${list.sql} ORDER BY run_id, seq, name`,
            list.params,
          )
        : [];
    claimed.sort(
      (a, b) => b.priority - a.priority || (a.available_at ?? 0) - (b.available_at ?? 0) || (a.id < b.id ? -1 : 1),
    );
    const byRun = new Map<string, Step[]>();
    for (const s of steps) {
      let bucket = byRun.get(s.run_id);
      if (!bucket) byRun.set(s.run_id, (bucket = []));
      bucket.push(rowToStep(s));
    }
    const runs: ClaimedRun[] = claimed.map((r) => ({ run: rowToRun(r), steps: byRun.get(r.id) ?? [] }));
    return { runs, nextWakeAt };
  });
}

/**
 * Picks up to `room` ready runs across several queues, or within a queue's limits, merged in
 * claim order. A limited queue is counted under its advisory lock (PostgreSQL), so two claimers
 * never both take its last free slot.
 */
async function pickReady(
  k: SqlKernel,
  tx: Tx,
  p: Readonly<ClaimRunsParams>,
  queueNames: readonly string[],
  settings: readonly QueueRow[],
  room: number,
): Promise<string[]> {
  const limits = new Map(settings.map((s) => [s.name, s]));
  const candidates: { id: string; priority: number; available_at: number }[] = [];
  // Limited queues take their advisory locks in name order, so claimers never deadlock.
  for (const queue of [...queueNames].sort()) {
    const s = limits.get(queue);
    if (s === undefined) {
      candidates.push(...(await readyRuns(k, tx, p, queue, room, [])));
      continue;
    }
    if (k.dialect === "postgres") {
      await tx.db.all("SELECT pg_advisory_xact_lock(1, hashtext(?::text))", [`${p.namespace}/${queue}`]);
    }
    const counts = await tx.db.all<{ concurrency_key: string | null; n: number }>(
      `SELECT concurrency_key, COUNT(*) AS n FROM runs WHERE lease_owner IS NOT NULL AND namespace = ? AND queue = ?
       GROUP BY concurrency_key`,
      [p.namespace, queue],
    );
    const leased = counts.reduce((sum, c) => sum + Number(c.n), 0);
    const capacity = s.concurrency_limit === null ? room : Math.min(room, s.concurrency_limit - leased);
    if (capacity <= 0) continue;
    const perKey = new Map(
      counts.filter((c) => c.concurrency_key !== null).map((c) => [c.concurrency_key as string, Number(c.n)]),
    );
    const keyLimit = s.key_concurrency_limit;
    const full = keyLimit === null ? [] : [...perKey].filter(([, n]) => n >= keyLimit).map(([k]) => k);
    // With a key limit, look further than `capacity`: runs of a key that fills up are skipped.
    const fetch = keyLimit === null ? capacity : Math.min(capacity * 4 + 16, 1000);
    let taken = 0;
    for (const run of await readyRuns(k, tx, p, queue, fetch, full)) {
      if (taken >= capacity) break;
      if (keyLimit !== null && run.concurrency_key !== null) {
        const n = perKey.get(run.concurrency_key) ?? 0;
        if (n >= keyLimit) continue;
        perKey.set(run.concurrency_key, n + 1);
      }
      candidates.push(run);
      taken++;
    }
  }
  candidates.sort((a, b) => b.priority - a.priority || a.available_at - b.available_at || (a.id < b.id ? -1 : 1));
  return candidates.slice(0, room).map((c) => c.id);
}

async function readyRuns(
  k: SqlKernel,
  tx: Tx,
  p: Readonly<ClaimRunsParams>,
  queue: string,
  limit: number,
  excludeKeys: readonly string[],
): Promise<{ id: string; priority: number; available_at: number; concurrency_key: string | null }[]> {
  const names = p.names === undefined ? undefined : k.list(p.names);
  const exclude = excludeKeys.length === 0 ? undefined : k.list(excludeKeys);
  return tx.db.all(
    `SELECT id, priority, available_at, concurrency_key FROM runs
     WHERE lease_owner IS NULL AND status IN ${READY}
       AND namespace = ? AND queue = ? AND available_at <= ?${names === undefined ? "" : ` AND name ${names.sql}`}${
         exclude === undefined ? "" : ` AND (concurrency_key IS NULL OR NOT (concurrency_key ${exclude.sql}))`
       }
     ORDER BY priority DESC, available_at, id LIMIT ?${k.skipLocked}`,
    [p.namespace, queue, tx.now, ...(names?.params ?? []), ...(exclude?.params ?? []), limit],
  );
}
