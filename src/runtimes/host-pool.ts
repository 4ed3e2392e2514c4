import { KilnError } from "../errors.ts";
import { type ComputeAdapter, execAdapter } from "./compute-adapter.ts";
import { DEFAULT_HOST_LIMITS, type HostLimits, HostProcess } from "./host-process.ts";
import type { HostRuntime } from "./protocol.ts";

/** Options of a host pool. */
export interface HostPoolOptions {
  /** Hosts per runtime (each runs one activation at a time). Default 4. */
  readonly size?: number;
  /** Where hosts run. Default: local processes (`execAdapter`). */
  readonly adapter?: ComputeAdapter;
  /** The Python interpreter of the default adapter. Default `/usr/bin/python3` if it exists, else `python3`. */
  readonly python?: string;
  /** The directory deployed code resolves its imports and packages from. Default: the current one. */
  readonly directory?: string;
  readonly limits?: Partial<HostLimits>;
  /** A host that has loaded this many code versions is replaced when idle (memory). Default 100. */
  readonly maxModulesPerHost?: number;
  /** Output of hosts outside any activation (start-up errors, stray prints). */
  readonly onStray?: (runtime: HostRuntime, line: string) => void;
}

interface RuntimeHosts {
  readonly all: Set<HostProcess>;
  idle: HostProcess[];
  starting: number;
  readonly waiters: { resolve: (h: HostProcess) => void; reject: (e: unknown) => void; hash: string | undefined }[];
}

/**
 * Warm workflow host processes, per runtime, started on demand up to `size`. A host runs one
 * activation at a time and keeps the code it loaded (by content hash), so an idle host that
 * already has a run's code is preferred. Dead hosts are dropped and replaced on the next demand.
 */
export class HostPool {
  readonly directory: string;
  readonly limits: HostLimits;
  readonly size: number;
  readonly #adapter: ComputeAdapter;
  readonly #maxModules: number;
  readonly #onStray: (runtime: HostRuntime, line: string) => void;
  readonly #runtimes = new Map<HostRuntime, RuntimeHosts>();
  #closed = false;

  constructor(options: Readonly<HostPoolOptions> = {}) {
    this.size = options.size ?? 4;
    if (!Number.isInteger(this.size) || this.size < 1) {
      throw new KilnError(
        "INVALID_CONFIG",
        `Expected the host pool "size" to be a positive integer, got ${options.size}`,
      );
    }
    this.directory = options.directory ?? process.cwd();
    this.limits = Object.freeze({ ...DEFAULT_HOST_LIMITS, ...options.limits });
    this.#adapter = options.adapter ?? execAdapter(options.python === undefined ? {} : { python: options.python });
    this.#maxModules = options.maxModulesPerHost ?? 100;
    this.#onStray = options.onStray ?? (() => {});
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
    const starts: Promise<void>[] = [];
    while (hosts.all.size + hosts.starting < Math.min(count, this.size)) {
      starts.push(this.#start(runtime).then((h) => this.release(h)));
    }
    await Promise.all(starts);
  }

  /** A free host of the runtime (preferring one that has `hash` loaded); waits while all are busy. */
  async acquire(runtime: HostRuntime, hash?: string): Promise<HostProcess> {
    if (this.#closed) throw new KilnError("WORKER_STOPPED", "The workflow host pool is closed");
    const hosts = this.#hosts(runtime);
    const warm = hash === undefined ? -1 : hosts.idle.findIndex((h) => h.loaded.has(hash));
    const index = warm >= 0 ? warm : hosts.idle.length - 1;
    if (index >= 0) return hosts.idle.splice(index, 1)[0] as HostProcess;
    if (hosts.all.size + hosts.starting < this.size) return await this.#start(runtime);
    return await new Promise((resolve, reject) => hosts.waiters.push({ resolve, reject, hash }));
  }

  /** Gives a host back after an activation (a dead or draining one is handled here). */
  release(host: HostProcess): void {
    const hosts = this.#hosts(host.runtime);
    if (host.busy) {
      void host.whenDrained().then(() => this.release(host));
      return;
    }
    if (!host.alive || this.#closed || host.loaded.size > this.#maxModules) {
      if (host.alive) void host.shutdown();
      hosts.all.delete(host);
      this.#serveWaiter(host.runtime);
      return;
    }
    const waiter = hosts.waiters.shift();
    if (waiter) waiter.resolve(host);
    else hosts.idle.push(host);
  }

  /** Shuts every host down. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#runtimes.values()];
    for (const hosts of all) {
      for (const w of hosts.waiters.splice(0))
        w.reject(new KilnError("WORKER_STOPPED", "The workflow host pool closed"));
    }
    await Promise.all(all.flatMap((hosts) => [...hosts.all].map((h) => h.shutdown())));
  }

  #hosts(runtime: HostRuntime): RuntimeHosts {
    let hosts = this.#runtimes.get(runtime);
    if (!hosts) {
      hosts = { all: new Set(), idle: [], starting: 0, waiters: [] };
      this.#runtimes.set(runtime, hosts);
    }
    return hosts;
  }

  async #start(runtime: HostRuntime): Promise<HostProcess> {
    const hosts = this.#hosts(runtime);
    hosts.starting++;
    try {
      const host = await HostProcess.start(this.#adapter, runtime, this.directory, this.limits, (line) =>
        this.#onStray(runtime, line),
      );
      hosts.all.add(host);
      host.onExit(() => {
        hosts.all.delete(host);
        hosts.idle = hosts.idle.filter((h) => h !== host);
        this.#serveWaiter(runtime);
      });
      return host;
    } finally {
      hosts.starting--;
    }
  }

  /** A slot freed up: start a host for the first waiter, if any. */
  #serveWaiter(runtime: HostRuntime): void {
    const hosts = this.#hosts(runtime);
    if (this.#closed || hosts.waiters.length === 0 || hosts.all.size + hosts.starting >= this.size) return;
    const waiter = hosts.waiters.shift();
    if (!waiter) return;
    this.#start(runtime).then(waiter.resolve, waiter.reject);
  }
}
