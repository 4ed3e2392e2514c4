import type { Store } from "../store/store.ts";

/** How long before its recorded expiry a remembered lease is checked against the store again (clock skew). */
const EXPIRY_MARGIN_MS = 2000;

/**
 * The latest lease of runs, to check that a worker appending log lines holds (or last held) the
 * run's lease: a worker token must not write into runs it does not lease. A lease is remembered
 * with its expiry; until then no other worker can take the run over, so lines under it pass
 * without a query. Past it (a takeover may have gone through another server), or for a lease this
 * server did not hand out, the store answers. Lines sent after the run finished keep passing:
 * finishing a run does not change its lease token.
 */
export class RunLeases {
  readonly #store: Pick<Store, "getRun">;
  readonly #clock: () => number;
  readonly #max: number;
  readonly #known = new Map<string, { readonly token: number; readonly validUntil: number }>();

  constructor(store: Pick<Store, "getRun">, clock: () => number, max = 200_000) {
    this.#store = store;
    this.#clock = clock;
    this.#max = max;
  }

  /** Records leases handed out (claims through this server). */
  remember(
    leases: Iterable<{ readonly runId: string; readonly leaseToken: number; readonly leaseExpiresAt: number | null }>,
  ): void {
    for (const { runId, leaseToken, leaseExpiresAt } of leases) {
      this.#known.delete(runId);
      if (leaseExpiresAt === null) continue;
      if (this.#known.size >= this.#max) {
        const oldest = this.#known.keys().next().value;
        if (oldest !== undefined) this.#known.delete(oldest);
      }
      this.#known.set(runId, { token: leaseToken, validUntil: leaseExpiresAt - EXPIRY_MARGIN_MS });
    }
  }

  /** The keys (leaseKey) of the runs of `namespace` among `leases` whose token is not the run's latest. */
  async stale(
    namespace: string,
    leases: readonly { readonly runId: string; readonly leaseToken: number }[],
  ): Promise<Set<string>> {
    const stale = new Set<string>();
    const now = this.#clock();
    const toLoad = new Map<string, Set<number>>();
    for (const { runId, leaseToken } of leases) {
      const known = this.#known.get(runId);
      if (leaseToken > 0 && known?.token === leaseToken && known.validUntil > now) continue;
      const tokens = toLoad.get(runId) ?? new Set<number>();
      tokens.add(leaseToken);
      toLoad.set(runId, tokens);
    }
    await Promise.all(
      [...toLoad].map(async ([runId, tokens]) => {
        const run = await this.#store.getRun({ namespace, id: runId });
        if (run) this.remember([{ runId, leaseToken: run.leaseToken, leaseExpiresAt: run.leaseExpiresAt }]);
        // Token 0 is "never claimed": nobody holds that lease.
        for (const token of tokens) if (token === 0 || run?.leaseToken !== token) stale.add(leaseKey(runId, token));
      }),
    );
    return stale;
  }
}

/** The key of one run and lease token in RunLeases.stale's answer. */
export function leaseKey(runId: string, leaseToken: number): string {
  return `${runId}\u0000${leaseToken}`;
}
