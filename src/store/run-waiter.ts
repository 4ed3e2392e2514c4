import { KilnError } from "../errors.ts";
import type { Run } from "../engine/run.ts";
import { isTerminal } from "../engine/status.ts";
import type { Store } from "./store.ts";

/** Params of RunWaiter.waitForRun. */
export interface WaitForRunParams {
  readonly namespace: string;
  readonly id: string;
  /** Rejects with RUN_TIMEOUT after this long. Default 60,000 ms. */
  readonly timeoutMs?: number;
}

/** How often a SQLite waiter reads its run's row, at most (runs ended by other processes). */
const SQLITE_POLL_MAX_MS = 50;
const SQLITE_POLL_FIRST_MS = 5;

interface Waiter {
  readonly namespace: string;
  readonly id: string;
  readonly resolve: (run: Run) => void;
  readonly reject: (error: unknown) => void;
  reading: boolean;
  /** A hint arrived during a read: read again, the read may predate the commit. */
  again: boolean;
  done: boolean;
}

/**
 * Resolves waits on runs at their terminal commit, without polling: one run-end subscription per
 * store (in-process at commit; PostgreSQL NOTIFY from other processes), and each hint re-reads the
 * awaited run's row. A lost notification cannot hang a waiter: when the listening connection comes
 * back, every awaited run is read again. SQLite has no cross-process notification, so there a
 * waiter also reads its one row (primary key) with a backoff capped at 50 ms.
 */
export class RunWaiter {
  readonly #store: Pick<Store, "getRun" | "subscribeRunEnds" | "dialect">;
  readonly #waiters = new Map<string, Set<Waiter>>();
  #subscription: Promise<() => Promise<void>> | undefined;
  #closed = false;

  constructor(store: Pick<Store, "getRun" | "subscribeRunEnds" | "dialect">) {
    this.#store = store;
  }

  /** How many waits are pending (for tests). */
  get pending(): number {
    let n = 0;
    for (const set of this.#waiters.values()) n += set.size;
    return n;
  }

  /** Resolves with the run once it is terminal (at once if it already is). */
  async waitForRun(p: Readonly<WaitForRunParams>): Promise<Run> {
    if (this.#closed) throw new KilnError("STORE_UNAVAILABLE", "This Kiln is closed: open it again to wait for runs");
    await this.#subscribe();
    const timeoutMs = p.timeoutMs ?? 60_000;
    return await new Promise<Run>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let poll: NodeJS.Timeout | undefined;
      const finish = () => {
        waiter.done = true;
        clearTimeout(timer);
        clearTimeout(poll);
        const set = this.#waiters.get(p.id);
        set?.delete(waiter);
        if (set?.size === 0) this.#waiters.delete(p.id);
      };
      const waiter: Waiter = {
        namespace: p.namespace,
        id: p.id,
        resolve: (run) => {
          finish();
          resolve(run);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
        reading: false,
        again: false,
        done: false,
      };
      let set = this.#waiters.get(p.id);
      if (!set) this.#waiters.set(p.id, (set = new Set()));
      set.add(waiter);
      // Registered before the first read: a commit after that read is announced to this waiter.
      this.#check(waiter);
      timer = setTimeout(() => {
        this.#store.getRun({ namespace: p.namespace, id: p.id }).then(
          (run) =>
            waiter.reject(
              new KilnError(
                "RUN_TIMEOUT",
                `Run ${p.id} is still ${run?.status ?? "missing"} after ${timeoutMs} ms of waiting; wait longer (timeoutMs) or look at its steps with \`kiln runs get ${p.id}\``,
              ),
            ),
          (error: unknown) => waiter.reject(error),
        );
      }, timeoutMs);
      if (this.#store.dialect === "sqlite") {
        let delay = SQLITE_POLL_FIRST_MS;
        const tick = () => {
          if (waiter.done) return;
          this.#check(waiter);
          delay = Math.min(SQLITE_POLL_MAX_MS, delay * 2);
          poll = setTimeout(tick, delay);
        };
        poll = setTimeout(tick, delay);
      }
    });
  }

  /** Rejects the pending waits and stops listening. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const set of [...this.#waiters.values()]) {
      for (const w of [...set])
        w.reject(new KilnError("STORE_UNAVAILABLE", `Stopped waiting for run ${w.id}: Kiln closed`));
    }
    const unsubscribe = await this.#subscription?.catch(() => undefined);
    this.#subscription = undefined;
    await unsubscribe?.();
  }

  async #subscribe(): Promise<void> {
    this.#subscription ??= this.#store.subscribeRunEnds({
      onEnded: (n) => {
        for (const id of n.runIds) for (const w of [...(this.#waiters.get(id) ?? [])]) this.#check(w);
      },
      onResync: () => {
        for (const set of [...this.#waiters.values()]) for (const w of [...set]) this.#check(w);
      },
    });
    try {
      await this.#subscription;
    } catch (error) {
      this.#subscription = undefined;
      throw error;
    }
  }

  /** Reads the run (one read at a time per waiter; a hint during a read reads again). */
  #check(w: Waiter): void {
    if (w.done) return;
    if (w.reading) {
      w.again = true;
      return;
    }
    w.reading = true;
    w.again = false;
    this.#store.getRun({ namespace: w.namespace, id: w.id }).then(
      (run) => {
        w.reading = false;
        if (run === undefined) w.reject(new KilnError("RUN_NOT_FOUND", `No run ${w.id} in namespace ${w.namespace}`));
        else if (isTerminal(run.status)) w.resolve(run);
        else if (w.again) this.#check(w);
      },
      (error: unknown) => {
        // The store is briefly unreachable: the next hint, resync or poll reads again.
        w.reading = false;
        if (w.again) this.#check(w);
        void error;
      },
    );
  }
}
