import { inList, type SqlDriver, type SqlParam } from "./sql-driver.ts";
import { TERMINAL } from "./sql-kernel.ts";

/** Which finished runs purgeFinishedRuns deletes. */
export interface PurgeFinishedRunsParams {
  /** Run trees whose root finished before this time (ms). */
  readonly finishedBefore: number;
  /** Only this namespace; or every namespace except `exceptNamespaces`. */
  readonly namespace?: string;
  readonly exceptNamespaces?: readonly string[];
  /** At most this many run trees per call. */
  readonly limit: number;
}

/** What a purge removed. */
export interface PurgeResult {
  readonly runs: number;
  readonly steps: number;
  readonly logs: number;
}

/**
 * Deletes whole run trees (a root run and its descendants) whose root finished before the cutoff
 * and none of whose runs is still active, with their steps, logs and event waits, in one
 * transaction per batch. Trees, not single runs: a parent's replay reads its children's results.
 */
export async function purgeFinishedRuns(driver: SqlDriver, p: Readonly<PurgeFinishedRunsParams>): Promise<PurgeResult> {
  const where: string[] = [
    "r.parent_run_id IS NULL",
    `r.status IN ${TERMINAL}`,
    "r.finished_at < ?",
    `NOT EXISTS (SELECT 1 FROM runs c WHERE c.parent_run_id IS NOT NULL AND c.root_run_id = r.id AND c.status NOT IN ${TERMINAL})`,
  ];
  const params: SqlParam[] = [p.finishedBefore];
  if (p.namespace !== undefined) {
    where.push("r.namespace = ?");
    params.push(p.namespace);
  } else if (p.exceptNamespaces && p.exceptNamespaces.length > 0) {
    const except = inList(driver.dialect, p.exceptNamespaces);
    where.push(`NOT (r.namespace ${except.sql})`);
    params.push(...except.params);
  }
  return driver.transaction(async (tx) => {
    const lock = driver.dialect === "postgres" ? " FOR UPDATE SKIP LOCKED" : "";
    const roots = await tx.all<{ id: string }>(
      `SELECT r.id FROM runs r WHERE ${where.join(" AND ")} ORDER BY r.finished_at LIMIT ?${lock}`,
      [...params, p.limit],
    );
    if (roots.length === 0) return { runs: 0, steps: 0, logs: 0 };
    const rootIds = inList(
      driver.dialect,
      roots.map((r) => r.id),
    );
    const children = await tx.all<{ id: string }>(
      `SELECT id FROM runs WHERE parent_run_id IS NOT NULL AND root_run_id ${rootIds.sql}`,
      rootIds.params,
    );
    const ids = inList(
      driver.dialect,
      [...roots, ...children].map((r) => r.id),
    );
    const logs = await tx.run(`DELETE FROM logs WHERE run_id ${ids.sql}`, ids.params);
    const steps = await tx.run(`DELETE FROM steps WHERE run_id ${ids.sql}`, ids.params);
    await tx.run(`DELETE FROM event_waits WHERE run_id ${ids.sql}`, ids.params);
    const runs = await tx.run(`DELETE FROM runs WHERE id ${ids.sql}`, ids.params);
    return { runs, steps, logs };
  });
}
