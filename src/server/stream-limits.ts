import { KilnError } from "../errors.ts";
import { type Principal, principalKey } from "./auth.ts";

/** Caps on open live streams (SSE, WebSocket, log follows). */
export interface StreamCaps {
  /** Per token (loopback callers and UI loopback sessions count as one each). Default 32. */
  readonly perToken: number;
  /** On the whole server. Default 1000. */
  readonly total: number;
}

/** The default caps. */
export const DEFAULT_STREAM_CAPS: StreamCaps = Object.freeze({ perToken: 32, total: 1000 });

/**
 * Counts open streams, so that one token (or a script opening connections in a loop) cannot
 * hold the server's file descriptors and memory: beyond a cap, TOO_MANY_STREAMS (429).
 */
export class StreamLimits {
  readonly #caps: StreamCaps;
  readonly #open = new Map<string, number>();
  #total = 0;

  constructor(caps: Partial<StreamCaps> = {}) {
    this.#caps = { ...DEFAULT_STREAM_CAPS, ...caps };
  }

  /** Streams open now. */
  get open(): number {
    return this.#total;
  }

  /** Counts one more stream of this caller; returns the function that counts it closed (once). */
  acquire(principal: Principal): () => void {
    const key = principalKey(principal);
    const mine = this.#open.get(key) ?? 0;
    if (mine >= this.#caps.perToken) {
      throw new KilnError(
        "TOO_MANY_STREAMS",
        `This token has ${mine} live streams open, the most one token may hold; close some (or raise maxStreams.perToken)`,
        { data: { limit: this.#caps.perToken, scope: "token", retryAfterSeconds: 5 } },
      );
    }
    if (this.#total >= this.#caps.total) {
      throw new KilnError(
        "TOO_MANY_STREAMS",
        `The server has ${this.#total} live streams open, the most it serves; retry later (or raise maxStreams.total)`,
        { data: { limit: this.#caps.total, scope: "server", retryAfterSeconds: 5 } },
      );
    }
    this.#open.set(key, mine + 1);
    this.#total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }
}
