import type { ClaimedRun } from "./claim.ts";

/**
 * An idle worker of this process offering to take runs the moment they are started: the start's
 * transaction then also leases the run to it (start+claim fusion), so the run costs one commit and
 * no claim round trip, and the worker gets it without waiting for a notification. The worker keeps
 * the count of reserved slots, so its concurrency limit holds exactly.
 */
export interface HandoffOffer {
  readonly namespace: string;
  readonly queues: readonly string[];
  /** The run names it can execute; undefined = any (as in ClaimRunsParams.names). */
  readonly names: readonly string[] | undefined;
  /** Lease owner written into the run, as a claim would. */
  readonly owner: string;
  readonly leaseMs: number;
  /** Reserves a slot for a run being started; false when the worker has none free (or stopped). */
  reserve(): boolean;
  /** Gives a reserved slot back: the start did not lease the run after all. */
  unreserve(): void;
  /**
   * Hands over the run of a reserved slot, leased to `owner`, after the start committed. The
   * worker runs it, or gives the lease back (outcome `release`) when it stopped meanwhile.
   */
  take(claimed: ClaimedRun): void;
}

/** What a starting run needs to be handed over: its namespace, queue and name. */
export interface HandoffCandidate {
  readonly namespace: string;
  readonly queue: string;
  readonly name: string;
}
