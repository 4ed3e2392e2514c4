/**
 * The HTTP protocol between Kiln's worker and a workflow running on Cloudflare Workers (the
 * replay model). Kiln POSTs a WorkerRequest with a bearer token; the Worker replays the run
 * against the history in it and answers a WorkerResponse: the writes it made, in order, and the
 * activation's outcome, or null when it stopped at a write whose answer it needs (Kiln performs
 * the writes fenced by the run's lease, adds the recorded steps to the history, and POSTs again).
 */
import type { ClaimedRun } from "../../engine/claim.ts";
import type { ActivationOutcome } from "../../workflow/workflow-activation.ts";
import type { HostCallMethod } from "../protocol.ts";

/** One activation round: the run, its history so far, and the worker's clock. */
export interface WorkerRequest {
  readonly claimed: ClaimedRun;
  /** The worker's clock (epoch ms) when sent. */
  readonly now: number;
  /** The worker's clock is manual (tests): use `now` as is. */
  readonly manualClock?: boolean;
}

/** A write the workflow made: the params of the engine-client verb of that name. */
export interface WorkerWrite {
  readonly method: HostCallMethod;
  readonly params: unknown;
}

/** The answer of the Worker to one round. */
export interface WorkerResponse {
  readonly writes: readonly WorkerWrite[];
  /** How the activation ended; null: record the writes and ask again. */
  readonly outcome: ActivationOutcome | null;
  /** Primitives the code reached. */
  readonly reached: number;
}
