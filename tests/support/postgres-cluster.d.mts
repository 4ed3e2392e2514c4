/** A throwaway PostgreSQL cluster (see postgres-cluster.mjs). */
export interface ThrowawayPostgres {
  readonly url: string;
  readonly dir: string;
  readonly port: number;
  /** `pg_ctl restart -m <mode>`; resolves once the server accepts connections again. */
  restart(mode: "fast" | "immediate"): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a cluster; `durable` keeps synchronous_commit on (commits survive an immediate restart);
 * `serverDefaults` runs PostgreSQL's default durability (fsync on: benchmarks); `preload` sets
 * shared_preload_libraries.
 */
export function startThrowawayPostgres(options?: {
  durable?: boolean;
  serverDefaults?: boolean;
  preload?: string;
}): Promise<ThrowawayPostgres>;
