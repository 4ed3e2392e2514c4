import { KilnError, serializeError } from "../errors.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { WriteResult } from "../engine/writes.ts";
import type { ActivationOutcome } from "../workflow/workflow-activation.ts";
import type { ComputeAdapter, SpawnedHost } from "./compute-adapter.ts";
import {
  type CallMessage,
  createLineDecoder,
  createLineWriter,
  encodeMessage,
  type HostCallMethod,
  type LineWriter,
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
  /** This activation used more CPU than allowed, or blocked its host that long (killed). */
  | { readonly kind: "cpu-limit"; readonly cpuMs: number }
  /**
   * An activation sharing the host blocked it past the CPU limit and the host was killed; which
   * one cannot be told apart, so each is retried on a host of its own.
   */
  | { readonly kind: "suspect"; readonly detail: string }
  /** The signal aborted the activation; the host finishes it in the background. */
  | { readonly kind: "aborted"; readonly reason: unknown };

/** Options of one activation in a host. */
export interface HostActivateOptions {
  readonly claimed: ClaimedRun;
  readonly hash: string;
  readonly now: number;
  readonly signal: AbortSignal;
  readonly onCall: CallHandler;
  /** Lines the workflow code printed, when the host cannot route them to the run log itself. */
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
  /** The host's CPU time when the activation began (null: not measurable). */
  readonly cpuAtStart: number | null;
  /** Whether it has been the host's only activation since it began (its CPU is then its own). */
  solo: boolean;
  settled: boolean;
}

const LEASE_LOST_RESULT: WriteResult = {
  ok: false,
  error: { code: "LEASE_LOST", message: "The activation of this run has ended" },
};

/**
 * One workflow host process seen from the worker: the line channel, the code it has loaded (by
 * content hash), its activations in flight, and a watchdog that tells a busy host from a looping
 * or hung one. A Node host interleaves many activations on its event loop; a Python host runs one.
 */
export class HostProcess {
  readonly runtime: HostRuntime;
  /** Content hashes of the code this host has loaded. */
  readonly loaded = new Set<string>();
  /** Set by the pool: the host runs one activation alone (a suspect run, see HostRunner). */
  exclusive = false;
  /** Called when an aborted activation has wound down in the host (its slot is free again). */
  onDrained: (() => void) | null = null;
  readonly #spawned: SpawnedHost;
  readonly #limits: HostLimits;
  readonly #waiters = new Map<number, (m: HostMessage) => void>();
  readonly #running = new Map<number, Current>();
  /** The latest activation of each run (calls are routed by run id). */
  readonly #byRun = new Map<string, Current>();
  readonly #loading = new Map<string, Promise<void>>();
  /** Aborted activations the host is still winding down: their slots are not free yet. */
  readonly #draining = new Map<number, () => void>();
  #nextId = 1;
  #dead = false;
  /** Killed: the process is going away (its exit is reported later), so it takes no more work. */
  #killed = false;
  #deathReason = "";
  #lastHeard = performance.now();
  #exitListeners: (() => void)[] = [];
  #onStray: (line: string) => void;
  #pid: number | undefined;
  #stopWatchdog: (() => void) | null = null;
  /** The host's CPU time at the latest watchdog reading (reading /proc per activation is costly). */
  #cpuReading: number | null = null;
  readonly #write: LineWriter;
  #callsInFlight = 0;

  private constructor(runtime: HostRuntime, spawned: SpawnedHost, limits: HostLimits, onStray: (line: string) => void) {
    this.runtime = runtime;
    this.#spawned = spawned;
    this.#limits = limits;
    this.#onStray = onStray;
    this.#pid = spawned.pid;
    this.#write = createLineWriter((text) => {
      if (!this.#dead) spawned.stdin.write(text);
    });
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
    host.#onStray = (line) => stderr.push(line);
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

  /** Whether the process is still usable (not dead, and not killed and about to be). */
  get alive(): boolean {
    return !this.#dead && !this.#killed;
  }

  /** Activations in flight, aborted ones still winding down included. */
  get active(): number {
    return this.#running.size + this.#draining.size;
  }

  /** Whether the host runs (or is still finishing) any activation. */
  get busy(): boolean {
    return this.active > 0;
  }

  /** Calls `listener` once when the host dies. */
  onExit(listener: () => void): void {
    if (this.#dead) listener();
    else this.#exitListeners.push(listener);
  }

  /** Loads code into the host (once per hash); WORKFLOW_LOAD_FAILED when it cannot run. */
  load(p: Readonly<{ hash: string; source: string; filename: string; directory: string }>): Promise<void> {
    if (this.loaded.has(p.hash)) return Promise.resolve();
    // Activations sharing the host wait for the one load of their code.
    let loading = this.#loading.get(p.hash);
    if (!loading) {
      loading = this.#load(p).finally(() => this.#loading.delete(p.hash));
      this.#loading.set(p.hash, loading);
    }
    return loading;
  }

  async #load(p: Readonly<{ hash: string; source: string; filename: string; directory: string }>): Promise<void> {
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
    if (!this.alive) return Promise.resolve({ kind: "crashed", detail: this.#deathReason || "the host was killed" });
    if (options.signal.aborted) return Promise.resolve({ kind: "aborted", reason: options.signal.reason });
    const id = this.#nextId++;
    return new Promise<HostActivationResult>((resolve) => {
      const onAbort = () => this.#abort(current, options.signal.reason);
      // Reading /proc costs more than the rest of an activation: one reading per busy period,
      // the watchdog's after that.
      if (!this.#stopWatchdog) this.#cpuReading = this.#spawned.cpuTimeMs();
      const current: Current = {
        id,
        options,
        cpuAtStart: this.#cpuReading,
        solo: this.#running.size === 0 && this.#draining.size === 0,
        settled: false,
        settle: (result) => {
          if (current.settled) return;
          current.settled = true;
          if (this.#byRun.get(options.claimed.run.id) === current) this.#byRun.delete(options.claimed.run.id);
          options.signal.removeEventListener("abort", onAbort);
          resolve(result);
        },
      };
      // With two or more running, every one was marked when the second began.
      if (this.#running.size === 1) for (const other of this.#running.values()) other.solo = false;
      this.#running.set(id, current);
      this.#byRun.set(options.claimed.run.id, current);
      options.signal.addEventListener("abort", onAbort, { once: true });
      this.#stopWatchdog ??= this.#watch(this.#cpuReading);
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
    this.#killed = true;
    this.#spawned.kill();
  }

  // ── Internals ─────────────────────────────────────────────────────────────────────────────

  #send(message: WorkerMessage): void {
    if (this.#dead) return;
    this.#write(encodeMessage(message));
  }

  #receive(message: HostMessage): void {
    this.#lastHeard = performance.now();
    switch (message.type) {
      case "call":
        void this.#call(message);
        return;
      case "done": {
        const current = this.#running.get(message.id);
        this.#running.delete(message.id);
        current?.settle({ kind: "done", outcome: message.outcome, reached: message.reached });
        this.#draining.get(message.id)?.();
        this.#checkIdle();
        return;
      }
      default: {
        const waiter = this.#waiters.get(message.type === "ready" ? 0 : message.id);
        waiter?.(message);
      }
    }
  }

  async #call(message: CallMessage): Promise<void> {
    const [first] = this.#running.values();
    const clock = first?.options.clock ?? Date.now;
    this.#callsInFlight++;
    try {
      const value = await this.#dispatch(message);
      this.#send({ type: "reply", id: message.id, ok: true, value: value ?? null, now: clock() });
    } catch (error) {
      this.#send({ type: "reply", id: message.id, ok: false, error: serializeError(error, "INTERNAL"), now: clock() });
    } finally {
      // The host waits for these replies: the last one out goes now, not a loop turn later.
      if (--this.#callsInFlight === 0) this.#write.flush();
    }
  }

  /**
   * Routes a call to the activations it concerns, by run id: a host batches the writes of all
   * its activations into one call, and each part is performed with its own run's lease checks.
   * Items of runs not activated here (any more) get LEASE_LOST.
   */
  async #dispatch(message: CallMessage): Promise<unknown> {
    const params = (message.params ?? {}) as Record<string, unknown>;
    const key = message.method === "saveSteps" ? "steps" : message.method === "updateRuns" ? "items" : "entries";
    if (message.method === "startChildRun" || message.method === "awaitEvent") {
      const current = this.#activationOf(params.runId);
      if (!current)
        throw new KilnError("LEASE_LOST", `Run ${String(params.runId)} is not being activated in this host`);
      return await current.options.onCall(message.method, params);
    }
    const items = params[key];
    if (!Array.isArray(items)) throw new KilnError("INVALID_INPUT", `Expected "${key}" to be a list in a host call`);
    // Item indexes by run (one item per run is the common case: a step of each activation).
    const groups = new Map<unknown, number[]>();
    for (let i = 0; i < items.length; i++) {
      const runId = (items[i] as { runId?: unknown } | null)?.runId;
      const group = groups.get(runId);
      if (group) group.push(i);
      else groups.set(runId, [i]);
    }
    const results: unknown[] = new Array(items.length).fill(LEASE_LOST_RESULT);
    const performed: Promise<void>[] = [];
    for (const [runId, indexes] of groups) {
      const current = this.#activationOf(runId);
      if (!current) continue;
      const part = indexes.length === 1 ? [items[indexes[0] as number]] : indexes.map((i) => items[i]);
      performed.push(
        current.options.onCall(message.method, { [key]: part }).then((value) => {
          if (!Array.isArray(value)) return;
          for (let j = 0; j < indexes.length; j++) results[indexes[j] as number] = value[j];
        }),
      );
    }
    await Promise.all(performed);
    return message.method === "appendLogs" ? null : results;
  }

  /** The unsettled activation of a run in this host, if any. */
  #activationOf(runId: unknown): Current | undefined {
    if (typeof runId !== "string") return undefined;
    const current = this.#byRun.get(runId);
    return current && !current.settled ? current : undefined;
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

  /** Host output reaches a run's log only when one activation runs (Node hosts log by themselves). */
  #output(line: string): void {
    const [only, ...others] = this.#running.values();
    if (only?.options.onOutput && others.length === 0) only.options.onOutput(line);
    else this.#onStray(line);
  }

  #abort(current: Current, reason: unknown): void {
    if (current.settled) return;
    this.#send({ type: "abort", id: current.id, reason: serializeError(reason, "LEASE_LOST") });
    // The outcome follows from the reason; the host still has to wind the activation down.
    this.#running.delete(current.id);
    const timer = setTimeout(() => this.kill(), this.#limits.abortGraceMs);
    this.#draining.set(current.id, () => {
      clearTimeout(timer);
      this.#draining.delete(current.id);
      this.#checkIdle();
      this.onDrained?.();
    });
    current.settle({ kind: "aborted", reason });
  }

  #checkIdle(): void {
    if (this.busy && !this.#dead) return;
    this.#stopWatchdog?.();
    this.#stopWatchdog = null;
  }

  /**
   * The watchdog, while activations run. A solo activation over its CPU limit is cut (an
   * infinite loop). A host that stays silent past the CPU limit while burning CPU is blocked by
   * a loop: killed, and its activation cut, or all of them retried alone when several shared it.
   * Silent for `unresponsiveMs` with no CPU used: hung (killed; activations retried). Without CPU
   * measurement (containers), silence past the CPU limit counts as a loop.
   */
  #watch(cpuNow: number | null): () => void {
    const { cpuLimitMs, unresponsiveMs } = this.#limits;
    const tickMs = Math.max(20, Math.min(1000, Math.floor(Math.min(cpuLimitMs, unresponsiveMs) / 5)));
    let heardAt = this.#lastHeard;
    let cpuAtHeard = cpuNow;
    let pongCpu = 0;
    const timer = setInterval(() => {
      if (this.#dead || this.#running.size === 0) return;
      const now = performance.now();
      const cpuNow = this.#spawned.cpuTimeMs();
      this.#cpuReading = cpuNow;
      if (heardAt !== this.#lastHeard) {
        heardAt = this.#lastHeard;
        cpuAtHeard = cpuNow;
      }
      const silentMs = now - heardAt;
      for (const current of this.#running.values()) {
        const used = current.cpuAtStart !== null && cpuNow !== null ? cpuNow - current.cpuAtStart : pongCpu;
        if (current.solo && used > cpuLimitMs) {
          this.#cut(current, Math.round(used));
          return;
        }
      }
      const burning = cpuNow !== null && cpuAtHeard !== null ? cpuNow - cpuAtHeard >= silentMs / 2 : true;
      if (silentMs > cpuLimitMs && burning) {
        const [only, ...others] = this.#running.values();
        if (only && others.length === 0) this.#cut(only, Math.round(silentMs));
        else this.#killAll("suspect", `an activation blocked the host for ${Math.round(silentMs)} ms`);
        return;
      }
      if (silentMs > unresponsiveMs && !burning) {
        this.#killAll("crashed", `the host did not answer for ${Math.round(silentMs)} ms`);
        return;
      }
      if (silentMs > tickMs) {
        const id = this.#nextId++;
        this.#waiters.set(id, (m) => {
          this.#waiters.delete(id);
          if (m.type === "pong") pongCpu = m.cpuMs;
        });
        this.#send({ type: "ping", id });
      }
    }, tickMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Kills the host for one looping activation; the others on it are retried. */
  #cut(current: Current, cpuMs: number): void {
    this.#running.delete(current.id);
    current.settle({ kind: "cpu-limit", cpuMs });
    this.#killAll("crashed", "another activation on the host was cut for exceeding the CPU limit");
  }

  #killAll(kind: "crashed" | "suspect", detail: string): void {
    const all = [...this.#running.values()];
    this.#running.clear();
    this.kill();
    for (const current of all) current.settle({ kind, detail });
  }

  #die(reason: string): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#deathReason = reason;
    const all = [...this.#running.values()];
    this.#running.clear();
    for (const current of all) current.settle({ kind: "crashed", detail: reason });
    for (const drained of [...this.#draining.values()]) drained();
    this.#checkIdle();
    for (const listener of this.#exitListeners.splice(0)) listener();
  }
}
