import type { SerializedError } from "../errors.ts";
import type { FinishRunParams } from "../engine/finish.ts";
import type { LogEntryInput } from "../engine/log-entry.ts";
import type { SaveStepParams, UpdateRunParams, WriteResult } from "../engine/writes.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import { recordStepSpan } from "./run-spans.ts";

interface Pending<T> {
  readonly item: T;
  readonly resolve: (r: WriteResult) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * Coalesces the fenced writes of concurrent activations into one store call per kind and flush
 * (group commit). A write waits at most one event-loop turn, so a lone sequential workflow keeps
 * its latency while fifty concurrent ones share transactions.
 */
export class WriteBatcher {
  readonly #client: EngineClient;
  readonly #maxBatch: number;
  #steps: Pending<SaveStepParams>[] = [];
  #updates: Pending<UpdateRunParams>[] = [];
  #finishes: Pending<FinishRunParams>[] = [];
  #logs: LogEntryInput[] = [];
  #scheduled = false;
  #flushing: Promise<void> = Promise.resolve();

  constructor(client: EngineClient, maxBatch = 500) {
    this.#client = client;
    this.#maxBatch = maxBatch;
  }

  /** Records a step; resolves with its fenced outcome once committed. */
  saveStep(item: SaveStepParams): Promise<WriteResult> {
    recordStepSpan(item);
    return this.#enqueue(this.#steps, item);
  }

  /** Updates state/progress; resolves once committed. */
  updateRun(item: UpdateRunParams): Promise<WriteResult> {
    return this.#enqueue(this.#updates, item);
  }

  /** Ends an activation; resolves once committed. */
  finishRun(item: FinishRunParams): Promise<WriteResult> {
    return this.#enqueue(this.#finishes, item);
  }

  /** Queues a log line (fire and forget; flushed with the next batch). */
  log(entry: LogEntryInput): void {
    this.#logs.push(entry);
    this.#schedule();
  }

  /** Flushes everything queued so far and waits for it. */
  async flush(): Promise<void> {
    this.#scheduled = false;
    const run = this.#flushing.then(() => this.#flushNow());
    this.#flushing = run.catch(() => {});
    await run;
  }

  #enqueue<T>(queue: Pending<T>[], item: T): Promise<WriteResult> {
    return new Promise<WriteResult>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (queue.length >= this.#maxBatch) void this.flush();
      else this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      if (this.#scheduled) void this.flush();
    });
  }

  async #flushNow(): Promise<void> {
    // Steps before updates before finishes: an activation only finishes after its step writes
    // resolved, but a retry of a batch must never reorder a run's own writes.
    const steps = this.#steps.splice(0);
    const updates = this.#updates.splice(0);
    const finishes = this.#finishes.splice(0);
    const logs = this.#logs.splice(0);
    if (logs.length > 0) {
      try {
        await this.#client.appendLogs({ entries: logs });
      } catch {
        // Logs are best effort: losing a batch must not fail the runs that wrote them.
      }
    }
    if (steps.length > 0) await settle(steps, (items) => this.#client.saveSteps({ steps: items }));
    if (updates.length > 0) await settle(updates, (items) => this.#client.updateRuns({ items }));
    if (finishes.length > 0) await settle(finishes, (items) => this.#client.finishRuns({ items }));
  }
}

async function settle<T>(pending: Pending<T>[], call: (items: T[]) => Promise<WriteResult[]>): Promise<void> {
  try {
    const results = await call(pending.map((p) => p.item));
    pending.forEach((p, i) => {
      p.resolve(results[i] ?? { ok: false, error: missingResult });
    });
  } catch (error) {
    for (const p of pending) p.reject(error);
  }
}

const missingResult: SerializedError = { code: "INTERNAL", message: "The store returned no result for a write" };
