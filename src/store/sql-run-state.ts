import { KilnError } from "../errors.ts";
import { rowsSource } from "./sql-driver.ts";
import { leaseLost, type SqlKernel, toSerialized } from "./sql-kernel.ts";
import type { UpdateRunParams, WriteResult } from "../engine/writes.ts";

// State and progress of leased runs (updateRuns), fenced by the lease token.

export async function updateRuns(
  k: SqlKernel,
  p: Readonly<{ items: readonly UpdateRunParams[] }>,
): Promise<WriteResult[]> {
  if (p.items.length === 0) return [];
  return k.tx(async (tx) => {
    const runs = await k.lockRuns<{ state: string; progress: string | null }>(
      tx,
      p.items.map((i) => i.runId),
      ", state, progress",
    );
    const values = new Map([...runs.values()].map((r) => [r.id, { state: r.state, progress: r.progress }]));
    const changed = new Set<string>();
    const results: WriteResult[] = [];
    for (const item of p.items) {
      const run = runs.get(item.runId);
      const lost = k.fence(run, item);
      const value = values.get(item.runId);
      if (lost || run === undefined || value === undefined) {
        results.push({ ok: false, error: lost ?? leaseLost(item, run) });
        continue;
      }
      try {
        const state = JSON.parse(value.state) as Record<string, string>;
        for (const [k, v] of Object.entries(item.state ?? {})) {
          if (v === null) delete state[k];
          else state[k] = String(v);
        }
        const encoded = k.encode(state, `state of run ${item.runId}`);
        const progress = item.progress === undefined ? value.progress : encodeProgress(k, item.progress);
        values.set(item.runId, { state: encoded, progress });
      } catch (error) {
        results.push({ ok: false, error: toSerialized(error) });
        continue;
      }
      changed.add(item.runId);
      results.push({ ok: true, cancelRequested: run.cancel_requested === 1 });
    }
    if (changed.size > 0) {
      const src = rowsSource(
        k.dialect,
        [
          ["id", "text"],
          ["state", "text"],
          ["progress", "text"],
        ],
        [...changed].map((id) => [id, values.get(id)?.state ?? "{}", values.get(id)?.progress ?? null]),
      );
      const keys = k.batchKeys("t.id", [...changed]);
      await tx.db.run(
        `UPDATE runs AS t SET state = v.state, progress = v.progress, updated_at = ?
         FROM ${src.sql} WHERE t.id = v.id${keys.sql}`,
        [tx.now, ...src.params, ...keys.params],
      );
    }
    return results;
  });
}

function encodeProgress(k: SqlKernel, progress: NonNullable<UpdateRunParams["progress"]>): string {
  const percent = progress.percent;
  if (percent !== null && !(typeof percent === "number" && Number.isFinite(percent))) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected progress "percent" to be a number or null, got ${JSON.stringify(percent)}`,
    );
  }
  return k.encode({ percent, message: progress.message ?? null }, "progress");
}
