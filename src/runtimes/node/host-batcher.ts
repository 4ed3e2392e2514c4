import type { LogEntryInput } from "../../engine/log-entry.ts";
import type { SaveStepParams, UpdateRunParams, WriteResult } from "../../engine/writes.ts";
import type { EngineClient } from "../../engine/engine-client.ts";

interface Pending<T> {
  readonly item: T;
  readonly resolve: (result: WriteResult) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The write batcher of a host process: the writes all its activations make in one event-loop
 * turn travel in one call per kind. Unlike the worker's WriteBatcher it does not wait for one
 * batch to be answered before sending the next: the worker reads calls in order and queues their
 * writes in order, so a run's writes keep their order, and `sendNow()` lets an activation's
 * last writes leave before its `done` without waiting for anyone's round trip.
 */
export class HostBatcher {
  readonly #client: EngineClient;
  #steps: Pending<SaveStepParams>[] = [];
  #updates: Pending<UpdateRunParams>[] = [];
  #logs: LogEntryInput[] = [];
  #scheduled = false;
  /** Called after a scheduled batch was handed to the client (the host flushes its output). */
  afterSend: (() => void) | null = null;

  constructor(client: EngineClient) {
    this.#client = client;
  }

  saveStep(item: SaveStepParams): Promise<WriteResult> {
    return this.#enqueue(this.#steps, item);
  }

  updateRun(item: UpdateRunParams): Promise<WriteResult> {
    return this.#enqueue(this.#updates, item);
  }

  /** Queues a log line (best effort). */
  log(entry: LogEntryInput): void {
    this.#logs.push(entry);
    this.#schedule();
  }

  /** Sends everything queued now (the calls are written before anything sent after this). */
  sendNow(): void {
    this.#scheduled = false;
    const steps = this.#steps.splice(0);
    const updates = this.#updates.splice(0);
    const logs = this.#logs.splice(0);
    if (logs.length > 0) this.#client.appendLogs({ entries: logs }).catch(() => {});
    if (steps.length > 0) settle(steps, (items) => this.#client.saveSteps({ steps: items }));
    if (updates.length > 0) settle(updates, (items) => this.#client.updateRuns({ items }));
  }

  #enqueue<T>(queue: Pending<T>[], item: T): Promise<WriteResult> {
    return new Promise<WriteResult>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      if (!this.#scheduled) return;
      this.sendNow();
      this.afterSend?.();
    });
  }
}

function settle<T>(pending: Pending<T>[], call: (items: T[]) => Promise<WriteResult[]>): void {
  call(pending.map((p) => p.item)).then(
    (results) =>
      pending.forEach((p, i) => {
        p.resolve(results[i] ?? { ok: false, error: { code: "INTERNAL", message: "The worker returned no result" } });
      }),
    (error: unknown) => {
      for (const p of pending) p.reject(error);
    },
  );
}
