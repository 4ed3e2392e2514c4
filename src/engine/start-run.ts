import type { RetryPolicy } from "./retry-policy.ts";
import type { Run, RunType } from "./run.ts";

/** Params of startRun. Times in epoch milliseconds. */
export interface StartRunParams {
  readonly namespace: string;
  readonly type: RunType;
  readonly name: string;
  readonly input?: unknown;
  readonly version?: string | null;
  /** Defaults to "default". */
  readonly queue?: string;
  /** Higher runs first. Defaults to 0. */
  readonly priority?: number;
  readonly concurrencyKey?: string | null;
  readonly idempotencyKey?: string | null;
  readonly retryPolicy?: RetryPolicy | null;
  /** The run times out this long after it is created. */
  readonly timeoutMs?: number | null;
  /** Delayed start: not claimable before this instant. */
  readonly availableAt?: number;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Internal: set by startChildRun. */
  readonly parentRunId?: string | null;
  readonly parentStepName?: string | null;
  readonly rootRunId?: string | null;
  /** Use this id instead of a fresh UUIDv7 (tests, imports). */
  readonly id?: string;
}

/** The run and whether this call created it (false: idempotency key matched an existing run). */
export interface StartRunResult {
  readonly run: Run;
  readonly created: boolean;
}
