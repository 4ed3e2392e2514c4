/** Opens the server's SSE stream of one run (GET /v1/stream?runId=…&types=…); throws when refused or away. */
export type OpenRunStream = (runId: string, types: string) => Promise<Response>;

/** The longest a waiter goes without reading the run again (notices, and a stream that went quiet). */
const MAX_QUIET_MS = 5000;
/** Backoff between attempts to open the stream while the server is away. */
const REOPEN_FIRST_MS = 50;
const REOPEN_MAX_MS = 1000;

/**
 * Tells a waiter when one run changed, from the server's SSE stream (GET /v1/stream?runId=…),
 * instead of polling: the server pushes the run's events, its end at the terminal commit. The
 * waiter reads the run after each `next()`; a stream that drops (server restart) is reopened, and
 * its first events (the run's current state) make the waiter read again, so a change made while
 * no stream was open is not missed. A server that refuses streams (TOO_MANY_STREAMS …) leaves the
 * waiter reading with a backoff up to 1 s.
 */
export class RunChanges {
  readonly #openStream: OpenRunStream;
  readonly #runId: string;
  readonly #types: string;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #opening: Promise<void> | undefined;
  #changed = false;
  #wake: (() => void) | undefined;
  #reopenDelay = REOPEN_FIRST_MS;
  #closed = false;

  /** `types`: the stream's event types that count as a change (e.g. "run,step,progress"). */
  constructor(openStream: OpenRunStream, runId: string, types: string) {
    this.#openStream = openStream;
    this.#runId = runId;
    this.#types = types;
  }

  /** Resolves when the run changed (or may have: the stream was reopened), or after 5 s at most. */
  async next(): Promise<void> {
    if (this.#changed) {
      this.#changed = false;
      return;
    }
    if (this.#reader === undefined) {
      this.#opening ??= this.#open().finally(() => {
        this.#opening = undefined;
      });
      await this.#opening;
      if (this.#reader === undefined) return; // not open: the caller reads (the fallback)
    }
    // Events that arrived while the stream opened (its first look at the run) count already.
    if (this.#changed) {
      this.#changed = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, MAX_QUIET_MS);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.#wake = undefined;
        resolve();
      }
      this.#wake = done;
    });
    this.#changed = false;
  }

  /** Closes the stream. */
  close(): void {
    this.#closed = true;
    void this.#reader?.cancel().catch(() => {});
    this.#reader = undefined;
    this.#wake?.();
  }

  #signal(): void {
    this.#changed = true;
    this.#wake?.();
  }

  async #open(): Promise<void> {
    try {
      const response = await this.#openStream(this.#runId, this.#types);
      if (!response.body) throw new Error("the stream has no body");
      const reader = response.body.getReader();
      this.#reader = reader;
      this.#reopenDelay = REOPEN_FIRST_MS;
      void this.#pump(reader);
    } catch {
      // Away (SERVER_UNAVAILABLE) or refusing (TOO_MANY_STREAMS …): wait a little, then let the
      // caller read the run, whose error (if any) is the one to report.
      await new Promise((r) => setTimeout(r, this.#reopenDelay));
      this.#reopenDelay = Math.min(REOPEN_MAX_MS, this.#reopenDelay * 2);
    }
  }

  /** Reads SSE frames: each event (not a `: ping` comment) is a change. */
  async #pump(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (frame.split("\n").some((line) => line.startsWith("data:"))) this.#signal();
          end = buffer.indexOf("\n\n");
        }
      }
    } catch {
      // Dropped (server restart): reopened by the next next().
    }
    if (this.#reader === reader) this.#reader = undefined;
    // The feed ended (the run is terminal) or dropped: the caller reads the run either way.
    if (!this.#closed) this.#signal();
  }
}
