import type { SerializedError } from "../errors.ts";
import type { Lease } from "./lease.ts";
import type { Progress } from "./run.ts";
import type { StartRunParams } from "./start-run.ts";
import type { StepStatus } from "./status.ts";
import type { StepType } from "./step.ts";

/** Outcome of one fenced write. `cancelRequested`: the run was asked to cancel; stop soon. */
export type WriteResult =
  | { readonly ok: true; readonly cancelRequested: boolean }
  | { readonly ok: false; readonly error: SerializedError };

/**
 * Records one step. Inserts the step, or updates it while it is not settled. A `running` step
 * with `wakeAt` is a failed attempt waiting for its retry.
 */
export interface SaveStepParams extends Lease {
  readonly name: string;
  readonly seq: number;
  readonly type: StepType;
  readonly status: StepStatus;
  readonly output?: unknown;
  readonly error?: SerializedError | null;
  readonly attempt?: number;
  readonly wakeAt?: number | null;
  readonly compensable?: boolean;
  /**
   * A `compensation` step: the name of the step it undoes. Recorded `completed`, it marks that
   * step `compensated` in the same transaction.
   */
  readonly compensates?: string;
  readonly startedAt?: number;
}

/** Params of startChildRun: the parent's lease and step, and the child to start. */
export interface StartChildRunParams extends Lease {
  readonly stepName: string;
  readonly seq: number;
  readonly child: Omit<StartRunParams, "namespace" | "parentRunId" | "parentStepName" | "rootRunId" | "idempotencyKey">;
}

/** Params of awaitEvent. */
export interface AwaitEventParams extends Lease {
  readonly stepName: string;
  readonly seq: number;
  readonly eventName: string;
  readonly key?: string | null;
  /** The wait gives up at this instant (the step then fails with EVENT_TIMEOUT on replay). */
  readonly timeoutAt?: number | null;
}

/** Params of one updateRuns item. */
export interface UpdateRunParams extends Lease {
  /** Keys to set; a null value deletes the key. */
  readonly state?: Readonly<Record<string, string | null>>;
  readonly progress?: Progress;
}
