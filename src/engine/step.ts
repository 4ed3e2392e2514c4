import type { SerializedError } from "../errors.ts";
import type { StepStatus } from "./status.ts";

/**
 * What a step records: a memoized `step`, a durable `sleep`, an `event` wait, a `child` run, or a
 * `compensation` of an earlier step. The one list every schema uses.
 */
export const STEP_TYPES = ["step", "sleep", "event", "child", "compensation"] as const;
export type StepType = (typeof STEP_TYPES)[number];

/** A memoized unit inside a run, keyed by its (suffixed) name. Times are epoch milliseconds. */
export interface Step {
  readonly runId: string;
  readonly name: string;
  /** Position in the run's step sequence (0-based), used to detect non-determinism. */
  readonly seq: number;
  readonly type: StepType;
  readonly status: StepStatus;
  readonly output: unknown;
  readonly error: SerializedError | null;
  readonly attempt: number;
  /** Sleep end, retry time of a failed attempt, or event-wait timeout. */
  readonly wakeAt: number | null;
  readonly childRunId: string | null;
  readonly eventName: string | null;
  readonly eventKey: string | null;
  /** Whether the step declared a compensation (saga). */
  readonly compensable: boolean;
  readonly startedAt: number;
  readonly finishedAt: number | null;
}
