import type { Logger } from "pino";
import { serializeError } from "../errors.ts";
import type { FiredSchedule } from "../store/schedule-store.ts";
import type { Store } from "../store/store.ts";
import type { ServerMetrics } from "./metrics.ts";

/** Options of the scheduler; durations in ms. */
export interface SchedulerOptions {
  readonly store: Pick<Store, "fireDueSchedules" | "getNextScheduleDueAt">;
  readonly logger?: Logger;
  readonly metrics?: Pick<ServerMetrics, "scheduleLag" | "scheduleFires">;
  /** The longest wait between two looks at the store (a schedule made on another server). Default 1000. */
  readonly maxIntervalMs?: number;
  /** Schedules handled per transaction (smaller: earlier commits, more transactions). Default 100. */
  readonly batchSize?: number;
  readonly clock?: () => number;
  /** Called with every handled fire (after the metrics). */
  readonly onFire?: (fire: FiredSchedule) => void;
}

/**
 * Fires due schedules: every server runs one, and the store makes that safe (row locks with
 * SKIP LOCKED and one idempotency key per schedule and due time). `start()`/`stop()` run it on a
 * timer aimed at the next due time (at most `maxIntervalMs` away); `tick()` fires once (tests).
 */
export class Scheduler {
  readonly #o: SchedulerOptions;
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #stopped = true;

  constructor(options: SchedulerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops the timer and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Fires every due schedule (batch after batch until one is not full); returns the fires. */
  async tick(): Promise<FiredSchedule[]> {
    const batch = this.#o.batchSize ?? 100;
    const all: FiredSchedule[] = [];
    for (let i = 0; i < 100; i++) {
      const handled = await this.#o.store.fireDueSchedules({ limit: batch });
      // The lag ends when the run exists, i.e. when the transaction committed: now.
      const committedAt = this.#clock();
      const fires = handled.map((f) => ({ ...f, lagMs: Math.max(0, committedAt - f.dueAt) }));
      for (const fire of fires) {
        this.#o.metrics?.scheduleFires.inc({ namespace: fire.namespace, outcome: fire.outcome });
        if (fire.outcome === "started" && fire.reason === null) {
          this.#o.metrics?.scheduleLag.observe({ namespace: fire.namespace }, fire.lagMs / 1000);
        }
        this.#o.onFire?.(fire);
      }
      all.push(...fires);
      if (new Set(fires.map((f) => `${f.namespace}\u0000${f.scheduleId}`)).size < batch) break;
    }
    const started = all.filter((f) => f.outcome === "started").length;
    if (started > 0) this.#o.logger?.debug({ started, handled: all.length }, "schedules fired");
    return all;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#loop();
    }, delayMs);
    this.#timer.unref();
  }

  async #loop(): Promise<void> {
    const max = this.#o.maxIntervalMs ?? 1000;
    let wait = max;
    try {
      await this.tick();
      const next = await this.#o.store.getNextScheduleDueAt();
      if (next !== null) wait = Math.min(max, Math.max(10, next - this.#clock()));
    } catch (error) {
      this.#o.logger?.warn({ error: serializeError(error, "INTERNAL").message }, "scheduler tick failed");
    }
    this.#schedule(wait);
  }
}
