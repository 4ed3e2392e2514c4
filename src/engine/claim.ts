import type { Run } from "./run.ts";
import type { Step } from "./step.ts";

/** Params of claimRuns. */
export interface ClaimRunsParams {
  readonly namespace: string;
  readonly queues: readonly string[];
  /** Only runs of these names (task kinds / workflows the worker can execute); omitted = any. */
  readonly names?: readonly string[];
  readonly owner: string;
  readonly limit: number;
  readonly leaseMs: number;
}

/** A claimed run with its recorded steps (sorted by seq). */
export interface ClaimedRun {
  readonly run: Run;
  readonly steps: Step[];
}

/** Claimed runs, and the earliest future timer so an idle worker knows when to look again. */
export interface ClaimRunsResult {
  readonly runs: ClaimedRun[];
  readonly nextWakeAt: number | null;
}
