/** A worker's claim on a run: the run id and the fencing token every write must carry. */
export interface Lease {
  readonly runId: string;
  readonly leaseToken: number;
}

/** Params of extendLeases. */
export interface ExtendLeasesParams {
  readonly owner: string;
  readonly leaseMs: number;
  readonly leases: readonly Lease[];
}

/** Leases that could not be extended, and runs whose cancellation was requested. */
export interface ExtendLeasesResult {
  readonly lost: string[];
  readonly cancelRequested: string[];
}
