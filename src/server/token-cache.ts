import type { ApiToken, ControlStore } from "../store/control-store.ts";

/**
 * Token lookups by hash, cached for a few seconds so that a request costs no store round trip for
 * its credentials. A revocation is seen at once by the server that made it and within `ttlMs` by
 * the others. Uses are recorded in batches (`flushUsage`, called by the housekeeper).
 */
export class TokenCache {
  readonly #store: Pick<ControlStore, "findToken" | "touchTokens">;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #clock: () => number;
  readonly #entries = new Map<string, { readonly token: ApiToken | undefined; readonly at: number }>();
  #used = new Set<string>();

  constructor(
    store: Pick<ControlStore, "findToken" | "touchTokens">,
    options: { ttlMs?: number; maxEntries?: number; clock?: () => number } = {},
  ) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#clock = options.clock ?? Date.now;
  }

  /** The token with this hash (revoked ones included), from cache when fresh. */
  async lookup(hash: string): Promise<ApiToken | undefined> {
    const now = this.#clock();
    const hit = this.#entries.get(hash);
    if (hit && now - hit.at < this.#ttlMs) return hit.token;
    const token = await this.#store.findToken({ hash });
    if (this.#entries.size >= this.#maxEntries) {
      // Drop the oldest entry (Map keeps insertion order): unknown hashes cannot grow memory.
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.delete(hash);
    this.#entries.set(hash, { token, at: now });
    return token;
  }

  /** Forgets every cached token (after a revocation on this server). */
  invalidate(): void {
    this.#entries.clear();
  }

  /** Notes that a token was used; written by the next flushUsage. */
  noteUse(id: string): void {
    this.#used.add(id);
  }

  /** Records the uses noted since the last flush. */
  async flushUsage(): Promise<void> {
    if (this.#used.size === 0) return;
    const ids = [...this.#used];
    this.#used = new Set();
    await this.#store.touchTokens({ ids });
  }
}
