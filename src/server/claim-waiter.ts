import type { Store } from "../store/store.ts";
import type { StoreNotification } from "../engine/engine-client.ts";

/** A registered interest in runs becoming claimable in a namespace (and some queues). */
export interface ClaimInterest {
  /** Resolves with the notifications seen since arming (or the last wait), or [] after `ms`. */
  wait(ms: number, signal?: AbortSignal): Promise<StoreNotification[]>;
  /** True (once) when a workflow was deployed in the namespace since arming or the last call. */
  takeDeployed(): boolean;
  dispose(): void;
}

interface Waiter {
  readonly namespace: string;
  readonly queues: ReadonlySet<string> | undefined;
  hits: StoreNotification[];
  deployed: boolean;
  wake: (() => void) | null;
  /** While waiting: ends the wait by `at` if that is sooner than it would end. */
  retime: ((at: number) => void) | null;
}

/**
 * Long-poll claims wait here for the store's `runs-ready` notifications (LISTEN/NOTIFY on
 * PostgreSQL, so a run started through any server wakes a claim waiting on any other). One store
 * subscription per server fans out to every waiting request. Interest is armed before the claim
 * it follows, so a notification sent between the claim and the wait is not lost.
 */
export class ClaimWaiter {
  readonly #store: Pick<Store, "subscribe" | "subscribeDeployments">;
  readonly #waiters = new Set<Waiter>();
  /** The store's clock, which timer notifications are in. */
  readonly #clock: () => number;
  #subscription: Promise<() => Promise<void>> | undefined;

  constructor(store: Pick<Store, "subscribe" | "subscribeDeployments">, clock: () => number = Date.now) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Subscribes to the store (once): runs becoming claimable, and deployments made through any server. */
  async start(): Promise<void> {
    this.#subscription ??= (async () => {
      const runs = await this.#store.subscribe((n) => this.#notify(n));
      try {
        const deployments = await this.#store.subscribeDeployments((n) => this.notifyDeployed(n.namespace));
        return async () => {
          await runs();
          await deployments();
        };
      } catch (error) {
        await runs();
        throw error;
      }
    })();
    await this.#subscription;
  }

  /** Arms interest in a namespace's queues (all queues when omitted). */
  arm(namespace: string, queues?: readonly string[]): ClaimInterest {
    const waiter: Waiter = {
      namespace,
      queues: queues === undefined ? undefined : new Set(queues),
      hits: [],
      deployed: false,
      wake: null,
      retime: null,
    };
    this.#waiters.add(waiter);
    return {
      wait: (ms, signal) => {
        if (waiter.hits.length > 0 || waiter.deployed || ms <= 0 || signal?.aborted)
          return Promise.resolve(waiter.hits.splice(0));
        return new Promise((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            waiter.wake = null;
            waiter.retime = null;
            resolve(waiter.hits.splice(0));
          };
          let endsAt = this.#clock() + ms;
          let timer = setTimeout(done, ms);
          signal?.addEventListener("abort", done, { once: true });
          waiter.wake = done;
          waiter.retime = (at) => {
            if (at >= endsAt) return;
            endsAt = at;
            clearTimeout(timer);
            timer = setTimeout(done, Math.max(0, at - this.#clock()));
          };
        });
      },
      takeDeployed: () => {
        const deployed = waiter.deployed;
        waiter.deployed = false;
        return deployed;
      },
      dispose: () => {
        waiter.wake?.();
        this.#waiters.delete(waiter);
      },
    };
  }

  /**
   * Wakes the claims waiting in `namespace` after a deploy: a worker claims only the workflow
   * names it knew when it asked, so its claim returns at once and it asks again with the new
   * names, instead of waiting out its long-poll while runs of the new workflow queue up. Called
   * by the deploy route (this server, at once) and by the store's deployment notifications (every
   * server on one PostgreSQL); a second call for one deploy only repeats the wake-up.
   */
  notifyDeployed(namespace: string): void {
    for (const w of this.#waiters) {
      if (w.namespace !== namespace) continue;
      w.deployed = true;
      w.wake?.();
    }
  }

  #notify(n: StoreNotification): void {
    for (const w of this.#waiters) {
      if (w.namespace !== n.namespace || (w.queues !== undefined && !w.queues.has(n.queue))) continue;
      if (n.type === "timer") {
        // Not claimable yet: the claim waiting here looks again when the run is due, instead of
        // sleeping out the timer it knew of (or its whole long-poll).
        w.retime?.(n.at);
        continue;
      }
      if (!w.hits.some((h) => h.queue === n.queue)) w.hits.push(n);
      w.wake?.();
    }
  }

  /** Wakes every waiter and unsubscribes. */
  async close(): Promise<void> {
    for (const w of this.#waiters) w.wake?.();
    this.#waiters.clear();
    const unsubscribe = await this.#subscription?.catch(() => undefined);
    this.#subscription = undefined;
    await unsubscribe?.();
  }
}
