import type { SerializedError } from "../errors.ts";
import type { RetryPolicy } from "./retry-policy.ts";
import type { RunStatus } from "./status.ts";

/** A run executes either a task kind or a workflow. */
export type RunType = "task" | "workflow";

/** Progress reported by a run (`::progress`, `ctx.progress`). */
export interface Progress {
  readonly percent: number | null;
  readonly message: string | null;
}

/** One execution of a task kind or a workflow (ARCHITECTURE.md "Glossary"). Times are epoch milliseconds. */
export interface Run {
  readonly id: string;
  readonly namespace: string;
  readonly type: RunType;
  /** The task kind or workflow name. */
  readonly name: string;
  /** The workflow version the run is pinned to (null for tasks and unversioned workflows). */
  readonly version: string | null;
  readonly queue: string;
  readonly priority: number;
  readonly concurrencyKey: string | null;
  readonly status: RunStatus;
  readonly input: unknown;
  readonly output: unknown;
  readonly error: SerializedError | null;
  /** The current attempt, 1-based. Retries raise it; they never create a new run. */
  readonly attempt: number;
  readonly retryPolicy: RetryPolicy | null;
  readonly idempotencyKey: string | null;
  readonly parentRunId: string | null;
  readonly parentStepName: string | null;
  readonly rootRunId: string;
  readonly leaseOwner: string | null;
  /** Fencing token: raised by every claim; every worker write must carry the current one. */
  readonly leaseToken: number;
  readonly leaseExpiresAt: number | null;
  /** When a queued run may be claimed, or when a parked run's timer fires (null: no timer). */
  readonly availableAt: number | null;
  /** The run times out at this instant (from its timeout), whatever it is doing. */
  readonly deadlineAt: number | null;
  /** Key/value state that survives retries (`::set-state`). */
  readonly state: Readonly<Record<string, string>>;
  readonly progress: Progress | null;
  /** Free-form labels given at start (never secrets). */
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}
