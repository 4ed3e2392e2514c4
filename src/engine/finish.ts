import type { SerializedError } from "../errors.ts";
import type { Lease } from "./lease.ts";

/**
 * How an activation ends:
 * - `complete`: status completed with output.
 * - `fail` with `retryAt`: back to queued as attempt + 1 (failed steps forgotten).
 * - `fail` without `retryAt`: terminal; `compensate: true` moves it to `compensating` instead.
 * - `park`: sleeping or waiting until `wakeAt` (null: until a signal); if something woke it
 *   during the activation, it goes straight back to queued.
 * - `release`: give the lease back untouched (graceful shutdown); claimable at once.
 * - `cancelled`, `compensated`: terminal.
 * - `timed_out`: terminal, unless the run has completed steps with a compensation: then it goes
 *   `compensating` (the error kept: RUN_TIMEOUT) and ends `compensated` after compensation.
 * Waiting steps of a run that stops for good (cancelling, compensating, failed, cancelled,
 * compensated, timed_out) are closed as `cancelled`.
 */
export type FinishRunParams = Lease &
  (
    | { readonly outcome: "complete"; readonly output?: unknown }
    | {
        readonly outcome: "fail";
        readonly error: SerializedError;
        readonly retryAt?: number;
        readonly compensate?: boolean;
      }
    | { readonly outcome: "park"; readonly status: "sleeping" | "waiting"; readonly wakeAt: number | null }
    | { readonly outcome: "release" }
    | { readonly outcome: "cancelled"; readonly error?: SerializedError }
    | { readonly outcome: "compensated"; readonly error?: SerializedError }
    | { readonly outcome: "timed_out"; readonly error: SerializedError }
  );
