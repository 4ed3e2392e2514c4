import type { KilnError } from "../errors.ts";

/**
 * What an attempt amounts to: `success`; a failure worth retrying (`retry`) or not (`failure`);
 * or `parked` (a durable sleep or event wait stopped the script; the run resumes later).
 */
export type ScriptVerdict = "success" | "retry" | "failure" | "parked";

/** Log volume of an attempt (sizes in characters). */
export interface ScriptLogStats {
  readonly size: number;
  readonly omittedLines: number;
  readonly omittedSize: number;
}

/**
 * The result of running a script: one shape whether it succeeded or failed, to be stored whole.
 * Everything in it is already masked (secrets and `::add-mask::` values are `***`).
 */
export interface ScriptResult {
  readonly verdict: ScriptVerdict;
  /** The script's pid, also its process group id (null when it never started). */
  readonly pid: number | null;
  /** The exit code, or null when the process was killed by a signal or never started. */
  readonly exitCode: number | null;
  /** The signal that killed the process (`SIGKILL`, …), or null. */
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly heartbeatTimedOut: boolean;
  /** Whether the task context's signal aborted the attempt (cancel, lost lease, shutdown). */
  readonly cancelled: boolean;
  readonly durationMs: number;
  /** The last lines of stdout (command lines removed), at most TAIL_SIZE. */
  readonly stdoutTail: string;
  readonly stderrTail: string;
  /** The output: the format's output merged with set-output keys; on failure, what was collected. */
  readonly output: unknown;
  /** `::set-output`, `$KILN_OUTPUT` and local API outputs. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** State keys written by this attempt (null: deleted); already saved through the host. */
  readonly stateChanges: Readonly<Record<string, string | null>>;
  readonly logs: ScriptLogStats;
  /** Why the verdict is not success (null for success and parked). Its data holds the details. */
  readonly error: KilnError | null;
}
