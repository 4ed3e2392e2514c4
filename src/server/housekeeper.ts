import type { Logger } from "pino";
import { serializeError } from "../errors.ts";
import type { Store, SweepResult } from "../store/store.ts";
import type { TokenCache } from "./token-cache.ts";

/** Options of the housekeeper; durations in ms. */
export interface HousekeeperOptions {
  readonly store: Store;
  readonly tokens?: TokenCache;
  readonly logger?: Logger;
  /** How often timers, deadlines and event expiry are swept. Default 1000. */
  readonly sweepIntervalMs?: number;
  /** Workers silent for this long are forgotten. Default 24 h. */
  readonly workerTtlMs?: number;
  /** How often token last-use times are written and stale workers pruned. Default 30 s. */
  readonly slowIntervalMs?: number;
  readonly clock?: () => number;
  /** Audit records older than this are deleted. Default 90 days. */
  readonly auditRetentionMs?: number;
}

/** What one tick did. */
export interface HousekeepingResult extends SweepResult {
  readonly workersPruned: number;
  readonly auditDeleted: number;
}

/**
 * The server's housekeeping: sweeps the store (times out runs past their deadline, wakes parked
 * runs whose timer is due, expires events), records token use, forgets long-silent workers.
 * Remote workers do not sweep; every server does, which the store makes safe (SKIP LOCKED).
 * `start()`/`stop()` run it on a timer; `tick()` runs it once (tests).
 */
export class Housekeeper {
  readonly #store: Store;
  readonly #tokens: TokenCache | undefined;
  readonly #logger: Logger | undefined;
  readonly #sweepMs: number;
  readonly #workerTtlMs: number;
  readonly #slowMs: number;
  readonly #clock: () => number;
  readonly #auditRetentionMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #lastSlow = 0;

  constructor(options: HousekeeperOptions) {
    this.#store = options.store;
    this.#tokens = options.tokens;
    this.#logger = options.logger;
    this.#sweepMs = options.sweepIntervalMs ?? 1000;
    this.#workerTtlMs = options.workerTtlMs ?? 86_400_000;
    this.#slowMs = options.slowIntervalMs ?? 30_000;
    this.#clock = options.clock ?? Date.now;
    this.#auditRetentionMs = options.auditRetentionMs ?? 90 * 86_400_000;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() => this.tick().catch((error: unknown) => this.#warn(error)));
    }, this.#sweepMs);
    this.#timer.unref();
  }

  /** Stops the timer and waits for a tick in progress. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Sweeps once (until a sweep finds less than a full batch) and does the slow chores when due. */
  async tick(): Promise<HousekeepingResult> {
    const total = { timedOut: 0, woken: 0, eventsDeleted: 0, workersPruned: 0, auditDeleted: 0 };
    for (let i = 0; i < 10; i++) {
      const r = await this.#store.sweep({ limit: 1000 });
      total.timedOut += r.timedOut;
      total.woken += r.woken;
      total.eventsDeleted += r.eventsDeleted;
      if (r.timedOut < 1000 && r.woken < 1000 && r.eventsDeleted < 1000) break;
    }
    const now = this.#clock();
    if (now - this.#lastSlow >= this.#slowMs) {
      this.#lastSlow = now;
      await this.#tokens?.flushUsage();
      total.workersPruned = await this.#store.pruneWorkers({ heartbeatBefore: now - this.#workerTtlMs });
      total.auditDeleted = await this.#store.audit.deleteAuditRecords({
        before: now - this.#auditRetentionMs,
        limit: 1000,
      });
    }
    if (total.timedOut > 0 || total.workersPruned > 0 || total.auditDeleted > 0)
      this.#logger?.info(total, "housekeeping");
    return total;
  }

  #warn(error: unknown): void {
    this.#logger?.warn({ error: serializeError(error, "INTERNAL").message }, "housekeeping failed");
  }
}
