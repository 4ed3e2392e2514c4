import type { Run } from "../engine/run.ts";
import type { ClaimedRun } from "../engine/claim.ts";

/**
 * The compact form of claimed runs on the worker protocol (`compact: true` in a claim): a run
 * leaves out what the worker can restore by itself, which is most of a fresh run (null columns,
 * empty state and metadata, priority 0, its namespace and lease owner, a root that is the run
 * itself, no steps). Lossless: `expandClaimed(compactClaimed(c, ns, owner), ns, owner)` equals `c`.
 */

/** A run's fields left out of the compact form when they hold this value. */
const NULLABLE = [
  "version",
  "concurrencyKey",
  "input",
  "output",
  "error",
  "retryPolicy",
  "idempotencyKey",
  "parentRunId",
  "parentStepName",
  "leaseExpiresAt",
  "availableAt",
  "deadlineAt",
  "progress",
  "startedAt",
  "finishedAt",
] as const satisfies readonly (keyof Run)[];

/** A claimed run on the wire: `run` without its default fields, `steps` only when there are some. */
export interface CompactClaimedRun {
  readonly run: Partial<Run> & Pick<Run, "id">;
  readonly steps?: ClaimedRun["steps"];
}

function isEmpty(o: Readonly<Record<string, unknown>>): boolean {
  for (const _ in o) return false;
  return true;
}

const NULLABLE_SET: ReadonlySet<string> = new Set(NULLABLE);

/** The compact form of runs claimed in `namespace` by `owner`. */
export function compactClaimed(claimed: readonly ClaimedRun[], namespace: string, owner: string): CompactClaimedRun[] {
  return claimed.map(({ run, steps }) => {
    const out: Record<string, unknown> = {};
    for (const key in run) {
      const value = run[key as keyof Run];
      if (value === undefined || (value === null && NULLABLE_SET.has(key))) continue;
      if ((key === "namespace" && value === namespace) || (key === "leaseOwner" && value === owner)) continue;
      if ((key === "state" || key === "metadata") && isEmpty(value as Record<string, unknown>)) continue;
      if (key === "priority" && value === 0) continue;
      if (key === "rootRunId" && value === run.id) continue;
      out[key] = value;
    }
    return steps.length === 0
      ? { run: out as CompactClaimedRun["run"] }
      : { run: out as CompactClaimedRun["run"], steps };
  });
}

/** Claimed runs back from their compact form (the namespace and owner of the claim). */
export function expandClaimed(compact: readonly CompactClaimedRun[], namespace: string, owner: string): ClaimedRun[] {
  return compact.map((c) => {
    const run: Record<string, unknown> = { namespace, leaseOwner: owner, priority: 0, rootRunId: c.run.id };
    for (const key of NULLABLE) run[key] = null;
    run.state = {};
    run.metadata = {};
    Object.assign(run, c.run);
    return { run: run as unknown as Run, steps: c.steps ?? [] };
  });
}
