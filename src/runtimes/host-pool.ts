import { availableParallelism } from "node:os";
import { KilnError } from "../errors.ts";
import { type ComputeAdapter, execAdapter } from "./compute-adapter.ts";
import { DEFAULT_HOST_LIMITS, type HostLimits, HostProcess } from "./host-process.ts";
import type { HostRuntime } from "./protocol.ts";

/** Options of a host pool. */
export interface HostPoolOptions {
  /**
   * Host processes per runtime. Default: one per CPU but one (the worker process needs a CPU for
   * the store and the protocol), at least 1, at most 4.
   */
  readonly size?: number;
  /**
   * Activations one Node host interleaves on its event loop (its writes share messages and
   * commits). Default 64. Python hosts run one at a time.
   */
  readonly activationsPerHost?: number;
  /** Where hosts run. Default: local processes (`execAdapter`). */
  readonly adapter?: ComputeAdapter;
  /** The Python interpreter of the default adapter. Default `/usr/bin/python3` if it exists, else `python3`. */
  readonly python?: string;
  /** The directory deployed code resolves its imports and packages from. Default: the current one. */
  readonly directory?: string;
  readonly limits?: Partial<HostLimits>;
  /** A host that has loaded this many code versions is replaced when idle (memory). Default 100. */
  readonly maxModulesPerHost?: number;
  /** Host output no run claims (prints of runs sharing a host, stray output). Default: stderr. */
  readonly onStray?: (runtime: HostRuntime, line: string) => void;
}

interface Waiter {
  readonly hash: string | undefined;
  readonly exclusive: boolean;
  readonly resolve: (host: HostProcess) => void;
  readonly reject: (error: unknown) => void;
}

interface RuntimeHosts {
  readonly all: Set<HostProcess>;
  starting: number;
  readonly waiters: Waiter[];
}

/**
 * Warm workflow host processes, per runtime, started on demand up to `size`. Each host keeps the
 * code it loaded (by content hash) and takes up to `activationsPerHost` activations at once; an
 * exclusive acquire gets a host to itself (runs that must be watched alone). New demand spreads
 * over idle hosts first, then shares busy ones; dead hosts are dropped and replaced on demand.
 */
export class HostPool {
  readonly directory: string;
  readonly limits: HostLimits;
  readonly size: number;
  readonly #perHost: number;
  readonly #adapter: ComputeAdapter;
  readonly #maxModules: number;
  readonly #onStray: (runtime: HostRuntime, line: string) => void;
  readonly #runtimes = new Map<HostRuntime, RuntimeHosts>();
  /** Hosts being started (close waits for them, then stops them). */
  readonly #starting = new Set<Promise<HostProcess>>();
  #closed = false;

  constructor(options: Readonly<HostPoolOptions> = {}) {
    this.size = positive(options.size ?? Math.max(1, Math.min(4, availableParallelism() - 1)), "size");
    this.#perHost = positive(options.activationsPerHost ?? 64, "activationsPerHost");
    this.directory = options.directory ?? process.cwd();
    this.limits = Object.freeze({ ...DEFAULT_HOST_LIMITS, ...options.limits });
    this.#adapter = options.adapter ?? execAdapter(options.python === undefined ? {} : { python: options.python });
    this.#maxModules = options.maxModulesPerHost ?? 100;
    this.#onStray = options.onStray ?? ((runtime, line) => process.stderr.write(`[kiln ${runtime} host] ${line}\n`));
  }

  /** The name of the compute adapter (`exec`, `docker`, …). */
  get adapter(): string {
    return this.#adapter.name;
  }

  /** The live hosts of a runtime (tests and metrics). */
  hosts(runtime: HostRuntime): readonly HostProcess[] {
    return [...this.#hosts(runtime).all];
  }

  /** Starts hosts ahead of demand so the first activations do not pay the start-up. */
  async warm(runtime: HostRuntime, count = this.size): Promise<void> {
    const hosts = this.#hosts(runtime);
    const starts: Promise<unknown>[] = [];
    while (hosts.all.size + hosts.starting < Math.min(count, this.size)) starts.push(this.#start(runtime));
    await Promise.all(starts);
  }

  /**
   * A host with a free slot (preferring an idle one, then one that has `hash` loaded); waits
   * while all are full. `exclusive`: a host with nothing else running, kept to this activation.
   * Every acquire is paired with `release`.
   */
  async acquire(runtime: HostRuntime, hash?: string, exclusive = false): Promise<HostProcess> {
    if (this.#closed) throw new KilnError("WORKER_STOPPED", "The workflow host pool is closed");
    const hosts = this.#hosts(runtime);
    const host = this.#pick(runtime, hash, exclusive);
    if (host) return this.#take(host, exclusive);
    if (hosts.all.size + hosts.starting < this.size) {
      const started = await this.#start(runtime);
      if (this.#fits(started, exclusive)) return this.#take(started, exclusive);
    }
    return await new Promise((resolve, reject) => hosts.waiters.push({ hash, exclusive, resolve, reject }));
  }

  /** Gives back a slot taken by `acquire`. */
  release(host: HostProcess): void {
    const hosts = this.#hosts(host.runtime);
    const slots = this.#slots.get(host) ?? 1;
    if (slots <= 1) this.#slots.delete(host);
    else this.#slots.set(host, slots - 1);
    if (!this.#slots.has(host)) host.exclusive = false;
    if (!host.alive || this.#closed) {
      hosts.all.delete(host);
    } else if (host.loaded.size > this.#maxModules && !this.#slots.has(host)) {
      hosts.all.delete(host);
      void host.shutdown();
    }
    this.#serveWaiters(host.runtime);
  }

  /** Shuts every host down. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#runtimes.values()];
    for (const hosts of all) {
      for (const w of hosts.waiters.splice(0))
        w.reject(new KilnError("WORKER_STOPPED", "The workflow host pool closed"));
    }
    await Promise.allSettled([...this.#starting]);
    await Promise.all(all.flatMap((hosts) => [...hosts.all].map((h) => h.shutdown())));
  }

  // ── Internals ─────────────────────────────────────────────────────────────────────────────

  /** Slots taken per host (activations acquired and not yet released). */
  readonly #slots = new Map<HostProcess, number>();

  #capacity(runtime: HostRuntime): number {
    return runtime === "python" ? 1 : this.#perHost;
  }

  #fits(host: HostProcess, exclusive: boolean): boolean {
    if (!host.alive || host.exclusive) return false;
    const taken = Math.max(this.#slots.get(host) ?? 0, host.active);
    return exclusive ? taken === 0 : taken < this.#capacity(host.runtime);
  }

  #pick(runtime: HostRuntime, hash: string | undefined, exclusive: boolean): HostProcess | undefined {
    let best: HostProcess | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const host of this.#hosts(runtime).all) {
      if (!this.#fits(host, exclusive)) continue;
      // Fewest activations first (spread over processes), then code already loaded.
      const score = (this.#slots.get(host) ?? 0) * 2 + (hash !== undefined && host.loaded.has(hash) ? 0 : 1);
      if (score < bestScore) {
        best = host;
        bestScore = score;
      }
    }
    const hosts = this.#hosts(runtime);
    // Every host is busy: start another in the background while this demand shares one.
    if (best && (this.#slots.get(best) ?? 0) > 0 && hosts.all.size + hosts.starting < this.size) {
      this.#start(runtime).catch(() => {});
    }
    return best;
  }

  #take(host: HostProcess, exclusive: boolean): HostProcess {
    this.#slots.set(host, (this.#slots.get(host) ?? 0) + 1);
    if (exclusive) host.exclusive = true;
    return host;
  }

  #hosts(runtime: HostRuntime): RuntimeHosts {
    let hosts = this.#runtimes.get(runtime);
    if (!hosts) {
      hosts = { all: new Set(), starting: 0, waiters: [] };
      this.#runtimes.set(runtime, hosts);
    }
    return hosts;
  }

  async #start(runtime: HostRuntime): Promise<HostProcess> {
    const hosts = this.#hosts(runtime);
    hosts.starting++;
    try {
      const starting = HostProcess.start(this.#adapter, runtime, this.directory, this.limits, (line) =>
        this.#onStray(runtime, line),
      );
      this.#starting.add(starting);
      const host = await starting.finally(() => this.#starting.delete(starting));
      if (this.#closed) {
        // Started in the background while the pool was closing: it must not outlive the pool.
        await host.shutdown();
        throw new KilnError("WORKER_STOPPED", "The workflow host pool is closed");
      }
      hosts.all.add(host);
      host.onDrained = () => this.#serveWaiters(runtime);
      host.onExit(() => {
        hosts.all.delete(host);
        this.#serveWaiters(runtime);
      });
      return host;
    } finally {
      hosts.starting--;
      queueMicrotask(() => this.#serveWaiters(runtime));
    }
  }

  /** Hands free slots to waiters in order, starting hosts when the pool may grow. */
  #serveWaiters(runtime: HostRuntime): void {
    const hosts = this.#hosts(runtime);
    while (!this.#closed && hosts.waiters.length > 0) {
      const waiter = hosts.waiters[0] as Waiter;
      const host = this.#pick(runtime, waiter.hash, waiter.exclusive);
      if (host) {
        hosts.waiters.shift();
        waiter.resolve(this.#take(host, waiter.exclusive));
        continue;
      }
      if (hosts.all.size + hosts.starting < this.size) {
        hosts.waiters.shift();
        this.#start(runtime).then((started) => {
          if (this.#fits(started, waiter.exclusive)) waiter.resolve(this.#take(started, waiter.exclusive));
          else hosts.waiters.unshift(waiter);
        }, waiter.reject);
        continue;
      }
      // Slots free up as activations are released, or as aborted ones wind down (onDrained).
      return;
    }
  }
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new KilnError("INVALID_CONFIG", `Expected the host pool "${name}" to be a positive integer, got ${value}`);
  }
  return value;
}
