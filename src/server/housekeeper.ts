import type { Logger } from "pino";
import { serializeError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import type { SweepResult } from "../engine/housekeeper.ts";
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
  /** Finished run trees (runs, steps, logs) older than this are deleted. Default: kept forever. */
  readonly runRetentionMs?: number;
  /** Per-namespace retention of finished runs, over runRetentionMs. */
  readonly namespaceRetentionMs?: Readonly<Record<string, number>>;
  /** Told what retention deleted (metrics). */
  readonly onPurged?: (deleted: { runs: number; steps: number; logs: number; audit: number }) => void;
}

/** What one tick did. */
export interface HousekeepingResult extends SweepResult {
  readonly workersPruned: number;
  readonly auditDeleted: number;
  readonly runsDeleted: number;
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
  readonly #runRetentionMs: number | undefined;
  readonly #namespaceRetentionMs: Readonly<Record<string, number>>;
  readonly #onPurged: HousekeeperOptions["onPurged"];
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
    this.#runRetentionMs = options.runRetentionMs;
    this.#namespaceRetentionMs = options.namespaceRetentionMs ?? {};
    this.#onPurged = options.onPurged;
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
    const total = { timedOut: 0, woken: 0, eventsDeleted: 0, workersPruned: 0, auditDeleted: 0, runsDeleted: 0 };
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
      const purged = await this.#purgeRuns(now);
      total.runsDeleted = purged.runs;
      if (purged.runs > 0 || total.auditDeleted > 0) this.#onPurged?.({ ...purged, audit: total.auditDeleted });
    }
    if (total.timedOut > 0 || total.workersPruned > 0 || total.auditDeleted > 0 || total.runsDeleted > 0)
      this.#logger?.info(total, "housekeeping");
    return total;
  }

  /** Deletes finished run trees past their namespace's retention, in batches of 500 (at most 10 per tick). */
  async #purgeRuns(now: number): Promise<{ runs: number; steps: number; logs: number }> {
    const sum = { runs: 0, steps: 0, logs: 0 };
    const scopes: { namespace?: string; exceptNamespaces?: string[]; retentionMs: number }[] = Object.entries(
      this.#namespaceRetentionMs,
    ).map(([namespace, retentionMs]) => ({ namespace, retentionMs }));
    if (this.#runRetentionMs !== undefined) {
      scopes.push({ exceptNamespaces: Object.keys(this.#namespaceRetentionMs), retentionMs: this.#runRetentionMs });
    }
    for (const scope of scopes) {
      for (let i = 0; i < 10; i++) {
        const r = await this.#store.purgeFinishedRuns({
          ...(scope.namespace === undefined ? {} : { namespace: scope.namespace }),
          ...(scope.exceptNamespaces === undefined ? {} : { exceptNamespaces: scope.exceptNamespaces }),
          finishedBefore: now - scope.retentionMs,
          limit: 500,
        });
        sum.runs += r.runs;
        sum.steps += r.steps;
        sum.logs += r.logs;
        if (r.runs === 0) break;
      }
    }
    return sum;
  }

  #warn(error: unknown): void {
    this.#logger?.warn({ error: serializeError(error, "INTERNAL").message }, "housekeeping failed");
  }
}
