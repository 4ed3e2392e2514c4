/** A token bucket's refill rate and size. */
export interface RateLimit {
  /** Requests per second, sustained. */
  readonly perSecond: number;
  /** Requests allowed in a burst. */
  readonly burst: number;
}

/**
 * Per-key token buckets (one per API token), in this server's memory: with N servers behind a load
 * balancer a token gets up to N times its rate, which bounds abuse without coordination.
 */
export class RateLimiter {
  readonly #clock: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  /** Takes one request from `key`'s bucket: 0 when allowed, else the ms until one is available. */
  take(key: string, limit: RateLimit): number {
    const now = this.#clock();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= 50_000) this.#evictFull(now, limit);
      bucket = { tokens: limit.burst, at: now };
      this.#buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.perSecond);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / limit.perSecond) * 1000);
  }

  /** Forgets buckets that have refilled (they behave as new ones). */
  #evictFull(now: number, limit: RateLimit): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * limit.perSecond >= limit.burst) this.#buckets.delete(key);
    }
  }
}
