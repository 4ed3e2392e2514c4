import { KilnError, type SerializedError, serializeError } from "../errors.ts";
import type { ClaimedRun } from "../store/store.ts";
import type { ActivationOutcome } from "../worker/workflow-activation.ts";
import type { ComputeAdapter, SpawnedHost } from "./compute-adapter.ts";
import {
  type CallMessage,
  createLineDecoder,
  encodeMessage,
  type HostCallMethod,
  type HostMessage,
  type HostRuntime,
  type WorkerMessage,
} from "./protocol.ts";

/** Time limits of a host; milliseconds. */
export interface HostLimits {
  /** CPU time one activation may use before it is cut with ACTIVATION_TIMEOUT. Default 60 s. */
  readonly cpuLimitMs: number;
  /** Silence (no message, no CPU used) after which a busy host counts as hung. Default 30 s. */
  readonly unresponsiveMs: number;
  /** How long a host may take to start, or to load code. Default 30 s. */
  readonly startTimeoutMs: number;
  /** After an abort, how long the host may take to stop the activation before it is killed. */
  readonly abortGraceMs: number;
}

/** The defaults of HostLimits. */
export const DEFAULT_HOST_LIMITS: HostLimits = Object.freeze({
  cpuLimitMs: 60_000,
  unresponsiveMs: 30_000,
  startTimeoutMs: 30_000,
  abortGraceMs: 5000,
});

/** Performs one `call` of an activation; resolves with the reply value, or rejects. */
export type CallHandler = (method: HostCallMethod, params: unknown) => Promise<unknown>;

/** What one activation in a host gave. */
export type HostActivationResult =
  | { readonly kind: "done"; readonly outcome: ActivationOutcome; readonly reached: number }
  /** The host died or hung (it was killed): the activation may be retried on a new host. */
  | { readonly kind: "crashed"; readonly detail: string }
  /** The activation used more CPU than allowed, or blocked the host that long (killed). */
  | { readonly kind: "cpu-limit"; readonly cpuMs: number }
  /** The signal aborted the activation; the host finishes it in the background. */
  | { readonly kind: "aborted"; readonly reason: unknown };

/** Options of one activation in a host. */
export interface HostActivateOptions {
  readonly claimed: ClaimedRun;
  readonly hash: string;
  readonly now: number;
  readonly signal: AbortSignal;
  readonly onCall: CallHandler;
  /** Lines the workflow code printed (stdout and stderr of the host). */
  readonly onOutput?: (line: string) => void;
  readonly replayOnly?: boolean;
  readonly clock?: () => number;
  /** The worker's clock is manual (see ActivateMessage.manualClock). */
  readonly manualClock?: boolean;
}

interface Current {
  readonly id: number;
  readonly options: HostActivateOptions;
  readonly settle: (result: HostActivationResult) => void;
  settled: boolean;
}

/**
 * One workflow host process seen from the worker: the line channel, the code it has loaded (by
 * content hash), and a watchdog that tells a busy host from a hung one. One activation at a time.
 */
export class HostProcess {
  readonly runtime: HostRuntime;
  /** Content hashes of the code this host has loaded. */
  readonly loaded = new Set<string>();
  readonly #spawned: SpawnedHost;
  readonly #limits: HostLimits;
  readonly #waiters = new Map<number, (m: HostMessage) => void>();
  #nextId = 1;
  #current: Current | null = null;
  /** An aborted activation the host is still finishing: the host is not reusable before. */
  #draining: Promise<void> | null = null;
  #drained: (() => void) | null = null;
  #dead = false;
  #deathReason = "";
  #lastHeard = performance.now();
  #exitListeners: (() => void)[] = [];
  #onStray: (line: string) => void;
  #pid: number | undefined;

  private constructor(runtime: HostRuntime, spawned: SpawnedHost, limits: HostLimits, onStray: (line: string) => void) {
    this.runtime = runtime;
    this.#spawned = spawned;
    this.#limits = limits;
    this.#onStray = onStray;
    this.#pid = spawned.pid;
    spawned.stdout.setEncoding("utf8");
    spawned.stdout.on(
      "data",
      createLineDecoder<HostMessage>(
        (m) => this.#receive(m),
        (line) => this.#output(line),
      ),
    );
    spawned.stderr.setEncoding("utf8");
    spawned.stderr.on(
      "data",
      createLineDecoder<never>(
        () => {},
        (line) => this.#output(line),
      ),
    );
    void spawned.exited.then(({ code, signal }) => {
      this.#die(signal ? `the host was killed by ${signal}` : `the host exited with code ${code}`);
    });
  }

  /** Starts a host and waits until it is ready. */
  static async start(
    adapter: ComputeAdapter,
    runtime: HostRuntime,
    directory: string,
    limits: HostLimits = DEFAULT_HOST_LIMITS,
    onStray: (line: string) => void = () => {},
  ): Promise<HostProcess> {
    const spawned = adapter.spawnHost({ runtime, directory });
    const host = new HostProcess(runtime, spawned, limits, onStray);
    const stderr: string[] = [];
    const collect = (line: string) => stderr.push(line);
    host.#onStray = collect;
    try {
      const ready = await host.#expect("ready", 0, limits.startTimeoutMs);
      if (ready.type === "ready") host.#pid = ready.pid;
      return host;
    } catch (error) {
      host.kill();
      const detail = stderr.slice(-20).join("\n");
      throw new KilnError(
        "HOST_CRASHED",
        `The ${runtime} workflow host did not start: ${(error as Error).message}${detail ? `\n${detail}` : ""}`,
        { cause: error },
      );
    } finally {
      host.#onStray = onStray;
    }
  }

  /** The host's process id (as the host reported it). */
  get pid(): number | undefined {
    return this.#pid;
  }

  /** Whether the process is still usable. */
  get alive(): boolean {
    return !this.#dead;
  }

  /** Whether the host runs (or is still finishing) an activation. */
  get busy(): boolean {
    return this.#current !== null || this.#draining !== null;
  }

  /** Resolves when an aborted activation has finished in the host (or the host died). */
  whenDrained(): Promise<void> {
    return this.#draining ?? Promise.resolve();
  }

  /** Calls `listener` once when the host dies. */
  onExit(listener: () => void): void {
    if (this.#dead) listener();
    else this.#exitListeners.push(listener);
  }

  /** Loads code into the host (once per hash); WORKFLOW_LOAD_FAILED when it cannot run. */
  async load(p: Readonly<{ hash: string; source: string; filename: string; directory: string }>): Promise<void> {
    if (this.loaded.has(p.hash)) return;
    const id = this.#nextId++;
    const answer = this.#expect("loaded", id, this.#limits.startTimeoutMs);
    this.#send({ type: "load", id, hash: p.hash, source: p.source, filename: p.filename, directory: p.directory });
    const message = await answer;
    if (message.type === "loaded" && !message.ok) {
      throw new KilnError("WORKFLOW_LOAD_FAILED", message.error.message, { retryable: false });
    }
    this.loaded.add(p.hash);
  }

  /** Runs one activation; never rejects. */
  activate(options: HostActivateOptions): Promise<HostActivationResult> {
    if (this.#dead) return Promise.resolve({ kind: "crashed", detail: this.#deathReason });
    if (this.busy) throw new KilnError("INTERNAL", "A workflow host runs one activation at a time");
    const id = this.#nextId++;
    return new Promise<HostActivationResult>((resolve) => {
      const current: Current = { id, options, settled: false, settle: () => {} };
      const stopWatchdog = this.#watch(current);
      const onAbort = () => this.#abort(current, options.signal.reason);
      (current as { settle: (r: HostActivationResult) => void }).settle = (result) => {
        if (current.settled) return;
        current.settled = true;
        stopWatchdog();
        options.signal.removeEventListener("abort", onAbort);
        resolve(result);
      };
      this.#current = current;
      if (options.signal.aborted) {
        current.settle({ kind: "aborted", reason: options.signal.reason });
        this.#current = null;
        return;
      }
      options.signal.addEventListener("abort", onAbort, { once: true });
      this.#send({
        type: "activate",
        id,
        hash: options.hash,
        claimed: options.claimed,
        now: options.now,
        ...(options.replayOnly ? { replayOnly: true } : {}),
        ...(options.manualClock ? { manualClock: true } : {}),
      });
    });
  }

  /** Asks the host to exit, and kills it if it has not within a second. */
  async shutdown(): Promise<void> {
    if (this.#dead) return;
    this.#send({ type: "shutdown" });
    const timer = setTimeout(() => this.kill(), 1000);
    await this.#spawned.exited;
    clearTimeout(timer);
  }

  /** Kills the host at once. */
  kill(): void {
    this.#spawned.kill();
  }

  // ── Internals ─────────────────────────────────────────────────────────────────────────────

  #send(message: WorkerMessage): void {
    if (this.#dead) return;
    this.#spawned.stdin.write(encodeMessage(message));
  }

  #receive(message: HostMessage): void {
    this.#lastHeard = performance.now();
    switch (message.type) {
      case "call":
        void this.#call(message);
        return;
      case "done": {
        const current = this.#current;
        if (current && current.id === message.id) {
          this.#current = null;
          current.settle({ kind: "done", outcome: message.outcome, reached: message.reached });
          this.#drained?.();
        }
        return;
      }
      default: {
        const waiter = this.#waiters.get(message.type === "ready" ? 0 : message.id);
        waiter?.(message);
      }
    }
  }

  async #call(message: CallMessage): Promise<void> {
    const current = this.#current;
    const clock = current?.options.clock ?? Date.now;
    if (!current || current.id !== message.activation || current.settled) {
      const error: SerializedError = { code: "LEASE_LOST", message: "The activation of this call has ended" };
      this.#send({ type: "reply", id: message.id, ok: false, error, now: clock() });
      return;
    }
    try {
      const value = await current.options.onCall(message.method, message.params);
      this.#send({ type: "reply", id: message.id, ok: true, value: value ?? null, now: clock() });
    } catch (error) {
      this.#send({ type: "reply", id: message.id, ok: false, error: serializeError(error, "INTERNAL"), now: clock() });
    }
  }

  /** Waits for the answer `type` to request `id` (0: `ready`), failing if the host dies first. */
  #expect(type: "ready" | "loaded", id: number, timeoutMs: number): Promise<HostMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new KilnError("HOST_CRASHED", `No "${type}" from the host within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (m: HostMessage | null) => {
        clearTimeout(timer);
        this.#waiters.delete(id);
        if (m) resolve(m);
        else reject(new KilnError("HOST_CRASHED", this.#deathReason || "The host exited"));
      };
      this.#waiters.set(id, (m) => {
        if (m.type === type) done(m);
      });
      this.onExit(() => done(null));
    });
  }

  #output(line: string): void {
    const current = this.#current;
    if (current?.options.onOutput) current.options.onOutput(line);
    else this.#onStray(line);
  }

  #abort(current: Current, reason: unknown): void {
    if (current.settled) return;
    this.#send({ type: "abort", id: current.id, reason: serializeError(reason, "LEASE_LOST") });
    // The outcome follows from the reason; the host still has to wind the activation down.
    this.#draining = new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.kill(), this.#limits.abortGraceMs);
      this.#drained = () => {
        clearTimeout(timer);
        this.#draining = null;
        this.#drained = null;
        resolve();
      };
    });
    current.settle({ kind: "aborted", reason });
  }

  /**
   * The watchdog of one activation. CPU over the limit → cut (an infinite loop). Silent for
   * `unresponsiveMs` while using no CPU → hung (killed; the activation may be retried). When the
   * CPU cannot be measured (containers), a silence longer than the CPU limit counts as a loop.
   */
  #watch(current: Current): () => void {
    const { cpuLimitMs, unresponsiveMs } = this.#limits;
    const tickMs = Math.max(20, Math.min(1000, Math.floor(Math.min(cpuLimitMs, unresponsiveMs) / 5)));
    const cpuAtStart = this.#spawned.cpuTimeMs();
    let cpuAtLastHeard = cpuAtStart;
    let heardAt = this.#lastHeard;
    let pongCpu = 0;
    let pinged = 0;
    const onPong = (m: HostMessage) => {
      if (m.type === "pong") pongCpu = m.cpuMs;
    };
    const timer = setInterval(() => {
      if (current.settled) return;
      const now = performance.now();
      const cpuNow = this.#spawned.cpuTimeMs();
      const measurable = cpuNow !== null && cpuAtStart !== null;
      const cpuUsed = measurable ? cpuNow - cpuAtStart : pongCpu;
      if (heardAt !== this.#lastHeard) {
        heardAt = this.#lastHeard;
        cpuAtLastHeard = cpuNow;
      }
      const silentMs = now - heardAt;
      const loopLike = !measurable && silentMs > Math.max(cpuLimitMs, unresponsiveMs);
      if (cpuUsed > cpuLimitMs || loopLike) {
        this.#current = null;
        this.kill();
        current.settle({ kind: "cpu-limit", cpuMs: Math.round(Math.max(cpuUsed, silentMs)) });
        return;
      }
      const idleCpu = measurable && cpuAtLastHeard !== null ? cpuNow - cpuAtLastHeard < silentMs / 2 : false;
      if (silentMs > unresponsiveMs && idleCpu) {
        this.#current = null;
        this.kill();
        current.settle({ kind: "crashed", detail: `the host did not answer for ${Math.round(silentMs)} ms` });
        return;
      }
      if (silentMs > tickMs) {
        const id = this.#nextId++;
        pinged = id;
        this.#waiters.set(id, (m) => {
          this.#waiters.delete(id);
          onPong(m);
        });
        this.#send({ type: "ping", id });
      }
    }, tickMs);
    timer.unref();
    return () => {
      clearInterval(timer);
      if (pinged) this.#waiters.delete(pinged);
    };
  }

  #die(reason: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#deathReason = reason;
    const current = this.#current;
    this.#current = null;
    current?.settle({ kind: "crashed", detail: reason });
    this.#drained?.();
    for (const listener of this.#exitListeners.splice(0)) listener();
  }
}
