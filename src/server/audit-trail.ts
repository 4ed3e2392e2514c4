import type { Logger } from "pino";
import type { AuditStore, NewAuditRecord } from "../store/audit-store.ts";

/** Options of the audit trail. */
export interface AuditTrailOptions {
  readonly logger?: Logger;
  /** Records are written at most this long after their call. Default 100 ms. */
  readonly flushMs?: number;
  /** A batch this big is written at once. Default 200. */
  readonly maxBatch?: number;
}

/**
 * Writes audit records in batches, off the request's path: one INSERT for every call of the last
 * 100 ms, so auditing `POST /v1/runs` does not add a commit per start. The price is that a server
 * killed with SIGKILL loses the records of its last ~100 ms of calls (a clean stop flushes them);
 * the changes themselves are in the store either way.
 */
export class AuditTrail {
  readonly #store: AuditStore;
  readonly #logger: Logger | undefined;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  #buffer: NewAuditRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(store: AuditStore, options: AuditTrailOptions = {}) {
    this.#store = store;
    this.#logger = options.logger;
    this.#flushMs = options.flushMs ?? 100;
    this.#maxBatch = options.maxBatch ?? 200;
  }

  record(record: NewAuditRecord): void {
    this.#buffer.push({ ...record, at: record.at ?? Date.now() });
    if (this.#buffer.length >= this.#maxBatch) void this.flush();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushMs);
      this.#timer.unref();
    }
  }

  /** Writes what is buffered; resolves when it is in the store. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const records = this.#buffer;
    this.#buffer = [];
    if (records.length === 0) return this.#writing;
    this.#writing = this.#writing.then(async () => {
      try {
        await this.#store.appendAuditRecords({ records });
      } catch (error) {
        // The store is down: the calls themselves failed or succeeded on their own; say what was lost.
        this.#logger?.error({ err: error, lost: records.length }, "audit records could not be written");
      }
    });
    return this.#writing;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
