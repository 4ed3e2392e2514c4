import { hostname } from "node:os";
import { KilnError, serializeError } from "../errors.ts";
import { newId } from "../engine/ids.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES, encodePayload } from "../engine/payload.ts";
import { decideRetry, NO_RETRY } from "../engine/retry-policy.ts";
import type { Progress, Run } from "../engine/run.ts";
import type { Lease } from "../engine/lease.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { FinishRunParams } from "../engine/finish.ts";
import type { LogLevel } from "../engine/log-level.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import type { Housekeeper } from "../engine/housekeeper.ts";
import { Registry } from "./registry.ts";
import { runTaskActivation, type TaskActivationDeps } from "./task-activation.ts";
import type { Span } from "@opentelemetry/api";
import { endSpan, withSpan } from "../tracing/spans.ts";
import { endAttemptSpans, startAttemptSpan } from "./run-spans.ts";
import type { ActivationDeps, ActivationOutcome } from "../workflow/workflow-activation.ts";
import { WriteBatcher } from "./write-batcher.ts";

/** Where the worker reports its own trouble (not run logs). */
export interface WorkerLogger {
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

/** Options of a worker; durations in milliseconds. */
export interface WorkerOptions {
  readonly client: EngineClient;
  readonly registry?: Registry;
  readonly namespace?: string;
  readonly queues?: readonly string[];
  /** Lease owner name; defaults to `<hostname>-<pid>-<random>`. */
  readonly name?: string;
  /** Runs executed at once. Default 8. */
  readonly concurrency?: number;
  /** Runs claimed per claim call. Default 50. */
  readonly batchSize?: number;
  /** Lease length. Default 30 s; heartbeats extend it every third of that. */
  readonly leaseMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Longest idle wait without a notification. Default 1000 ms. */
  readonly pollIntervalMs?: number;
  /**
   * Also run this housekeeping (deadlines, timers, event expiry) every `sweepIntervalMs`: the
   * store of an in-process worker. Absent: someone else sweeps (a remote worker's server).
   */
  readonly housekeeper?: Housekeeper;
  readonly sweepIntervalMs?: number;
  /** How long stop() waits for running activations before giving their leases back. Default 10 s. */
  readonly drainTimeoutMs?: number;
  readonly maxPayloadBytes?: number;
  readonly clock?: () => number;
  readonly logger?: WorkerLogger;
}

interface InFlight {
  readonly lease: Lease;
  readonly scope: ActivationScope;
}

/**
 * What one activation gets from the worker (ActivationDeps, TaskActivationDeps), and how the worker
 * aborts it. The AbortSignal is made only when someone asks for it: most activations never do.
 */
class ActivationScope implements ActivationDeps, TaskActivationDeps {
  readonly client: EngineClient;
  readonly batcher: WriteBatcher;
  readonly clock: () => number;
  readonly maxPayloadBytes: number;
  readonly #run: Run;
  #controller: AbortController | null = null;
  #aborted = false;
  #reason: unknown;

  constructor(run: Run, client: EngineClient, batcher: WriteBatcher, clock: () => number, maxPayloadBytes: number) {
    this.#run = run;
    this.client = client;
    this.batcher = batcher;
    this.clock = clock;
    this.maxPayloadBytes = maxPayloadBytes;
  }

  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get abort(): { readonly aborted: boolean; readonly reason: unknown } {
    return { aborted: this.#aborted, reason: this.#reason };
  }

  /** Aborts the activation (first reason wins). */
  cancel(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  log(level: LogLevel, message: string, stepName: string | null): void {
    const run = this.#run;
    this.batcher.log({
      runId: run.id,
      attempt: run.attempt,
      leaseToken: run.leaseToken,
      stepName,
      level,
      message,
      ts: this.clock(),
    });
  }

  progress(progress: Progress): void {
    void this.batcher.updateRun({ runId: this.#run.id, leaseToken: this.#run.leaseToken, progress });
  }
}

const silentLogger: WorkerLogger = {
  info: () => {},
  warn: () => {},
  error: (message, data) => console.error(`[kiln worker] ${message}`, data ?? ""),
};

/**
 * Claims runs from queues and executes them: workflow activations (replay) and task handlers.
 * `start()` runs the claim loop, heartbeats and housekeeping; `stop()` drains gracefully;
 * `tick()` claims and executes one batch to the end, for deterministic tests.
 */
export class Worker {
  readonly registry: Registry;
  readonly name: string;
  readonly #client: EngineClient;
  readonly #batcher: WriteBatcher;
  readonly #namespace: string;
  readonly #queues: readonly string[];
  readonly #concurrency: number;
  readonly #batchSize: number;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #housekeeper: Housekeeper | undefined;
  readonly #sweepMs: number;
  readonly #drainMs: number;
  readonly #maxPayload: number;
  readonly #clock: () => number;
  readonly #logger: WorkerLogger;
  readonly #inflight = new Map<string, InFlight>();
  /** Every execution not yet fully recorded (activation plus its finish write). */
  readonly #executions = new Set<Promise<void>>();
  #running = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  /** While idle: ends the idle wait by `at` (store clock) if that is sooner. */
  #retime: ((at: number) => void) | null = null;
  #dirty = false;
  /** Slots reserved by starts being handed over (see #offerHandoff). */
  #incoming = 0;
  /** Whether the loop is idle with a handoff offer out. */
  #offering = false;
  #timers: NodeJS.Timeout[] = [];
  #unsubscribe: (() => Promise<void>) | null = null;
  #processed = 0;

  /** How many runs it executes at once. */
  get concurrency(): number {
    return this.#concurrency;
  }

  constructor(options: WorkerOptions) {
    this.#client = options.client;
    this.registry = options.registry ?? new Registry();
    this.#namespace = options.namespace ?? "default";
    this.#queues = options.queues ?? ["default"];
    this.name = options.name ?? `${hostname()}-${process.pid}-${newId().slice(-6)}`;
    this.#concurrency = options.concurrency ?? 8;
    this.#batchSize = options.batchSize ?? 50;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#heartbeatMs = options.heartbeatIntervalMs ?? Math.max(10, Math.floor(this.#leaseMs / 3));
    this.#pollMs = options.pollIntervalMs ?? 1000;
    this.#housekeeper = options.housekeeper;
    this.#sweepMs = options.sweepIntervalMs ?? 1000;
    this.#drainMs = options.drainTimeoutMs ?? 10_000;
    this.#maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    this.#batcher = new WriteBatcher(this.#client);
  }

  /** Runs executed to an outcome since the worker was created. */
  get processed(): number {
    return this.#processed;
  }

  /** Whether it is idle with its free slots offered to runs started in this process (start+claim fusion). */
  get offering(): boolean {
    return this.#offering;
  }

  /** Runs executing now. */
  get activeCount(): number {
    return this.#inflight.size;
  }

  /** Starts claiming and executing runs until stop(). */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = await this.#client.subscribe((n) => {
      if (n.namespace !== this.#namespace || !this.#queues.includes(n.queue)) return;
      if (n.type === "timer") this.#retime?.(n.at);
      else this.#poke();
    });
    this.#timers.push(setInterval(() => void this.#heartbeat(), this.#heartbeatMs));
    const housekeeper = this.#housekeeper;
    if (housekeeper) this.#timers.push(setInterval(() => void this.#housekeep(housekeeper), this.#sweepMs));
    for (const t of this.#timers) t.unref();
    this.#loop = this.#claimLoop();
  }

  /**
   * Stops claiming, waits up to the drain timeout for running activations, then gives the
   * remaining leases back (their runs are claimable at once by another worker).
   */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#poke();
    await this.#loop;
    const drained = Promise.all([...this.#executions]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), this.#drainMs);
    });
    if ((await Promise.race([drained, timeout])) === "timeout") {
      this.#logger.warn(
        `Shutdown timeout of ${this.#drainMs} ms reached: stopping ${this.#inflight.size} running runs (scripts get SIGTERM)`,
      );
      const reason = new KilnError("WORKER_STOPPED", `Worker ${this.name} is shutting down`);
      for (const f of this.#inflight.values()) f.scope.cancel(reason);
      await drained;
    }
    clearTimeout(timer);
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#batcher.flush();
    await this.#unsubscribe?.();
    this.#unsubscribe = null;
  }

  /** Claims one batch and executes it to the end (tests). Returns how many runs were claimed. */
  async tick(): Promise<number> {
    const claimed = await this.#claim(this.#concurrency);
    await Promise.all(claimed.map((c) => this.#execute(c)));
    await this.#batcher.flush();
    return claimed.length;
  }

  /** Runs tick() until nothing is claimable (tests). Returns the total claimed. */
  async drain(maxTicks = 10_000): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxTicks; i++) {
      const n = await this.tick();
      if (n === 0) return total;
      total += n;
    }
    return total;
  }

  /** Abandons every running activation without releasing leases (chaos tests: a crash). */
  crash(): void {
    this.#running = false;
    const reason = new KilnError("LEASE_LOST", "Simulated crash");
    for (const f of this.#inflight.values()) f.scope.cancel(reason);
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#poke();
  }

  // ── Loop ──────────────────────────────────────────────────────────────────────────────────

  async #claimLoop(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      // Yield to the event loop every turn: an in-process store answers in microtasks, and the
      // activations we started need macrotask turns (write batching) to make progress.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const free = this.#concurrency - this.#inflight.size - this.#incoming;
      if (free <= 0) {
        await this.#idle(this.#pollMs);
        continue;
      }
      this.#dirty = false;
      let claimed: ClaimedRun[];
      let nextWakeAt: number | null = null;
      let names: readonly string[] | undefined;
      try {
        names = await this.registry.claimNames(this.#namespace);
        const result = await this.#client.claimRuns({
          namespace: this.#namespace,
          queues: this.#queues,
          names,
          owner: this.name,
          limit: Math.min(free, this.#batchSize),
          leaseMs: this.#leaseMs,
        });
        claimed = result.runs;
        nextWakeAt = result.nextWakeAt;
        failures = 0;
      } catch (error) {
        failures++;
        const delay = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
        this.#logger.warn(`Claim failed (retrying in ${delay} ms): ${serializeError(error).message}`);
        await this.#idle(delay);
        continue;
      }
      for (const c of claimed) void this.#execute(c);
      if (claimed.length === 0 && !this.#dirty) {
        const untilTimer = nextWakeAt === null ? this.#pollMs : Math.max(1, nextWakeAt - this.#clock());
        // Nothing claimable: while idle, runs started in this process come straight here.
        const withdraw = this.#offerHandoff(names);
        try {
          await this.#idle(Math.min(this.#pollMs, untilTimer));
        } finally {
          withdraw?.();
          this.#offering = false;
        }
      }
    }
  }

  /**
   * Offers this idle worker's free slots to runs started in this process (start+claim fusion, see
   * store/local-handoff.ts); returns the withdrawal, or undefined when the client cannot hand over.
   */
  #offerHandoff(names: readonly string[] | undefined): (() => void) | undefined {
    if (this.#client.offerHandoff === undefined) return undefined;
    const withdraw = this.#client.offerHandoff({
      namespace: this.#namespace,
      queues: this.#queues,
      names,
      owner: this.name,
      leaseMs: this.#leaseMs,
      reserve: () => {
        if (!this.#running || this.#inflight.size + this.#incoming >= this.#concurrency) return false;
        this.#incoming++;
        return true;
      },
      unreserve: () => {
        this.#incoming--;
      },
      take: (claimed) => {
        this.#incoming--;
        if (this.#running) {
          void this.#execute(claimed);
          return;
        }
        // Stopped meanwhile: the lease goes back untouched, claimable at once elsewhere.
        const { run } = claimed;
        void this.#batcher.finishRun({ runId: run.id, leaseToken: run.leaseToken, outcome: "release" }).catch(() => {});
      },
    });
    this.#offering = true;
    return withdraw;
  }

  /** Waits until poked (notification, freed slot, stop) or `ms` elapsed. */
  #idle(ms: number): Promise<void> {
    if (this.#dirty || !this.#running) return Promise.resolve();
    return new Promise((resolve) => {
      let endsAt = this.#clock() + ms;
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.#retime = null;
        resolve();
      };
      timer = setTimeout(done, ms);
      this.#wake = () => {
        this.#wake = null;
        done();
      };
      this.#retime = (at) => {
        if (at >= endsAt) return;
        endsAt = at;
        clearTimeout(timer);
        timer = setTimeout(done, Math.max(0, at - this.#clock()));
      };
    });
  }

  #poke(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  async #claim(limit: number): Promise<ClaimedRun[]> {
    const result = await this.#client.claimRuns({
      namespace: this.#namespace,
      queues: this.#queues,
      names: await this.registry.claimNames(this.#namespace),
      owner: this.name,
      limit: Math.min(limit, this.#batchSize),
      leaseMs: this.#leaseMs,
    });
    return result.runs;
  }

  // ── Execution ─────────────────────────────────────────────────────────────────────────────

  #execute(claimed: ClaimedRun): Promise<void> {
    const { run } = claimed;
    const scope = new ActivationScope(run, this.#client, this.#batcher, this.#clock, this.#maxPayload);
    this.#inflight.set(run.id, { lease: { runId: run.id, leaseToken: run.leaseToken }, scope });
    const done = this.#run(claimed, scope);
    this.#executions.add(done);
    void done.then(() => this.#executions.delete(done));
    return done;
  }

  /** Activates a claimed run and records its outcome; never rejects. */
  async #run(claimed: ClaimedRun, scope: ActivationScope): Promise<void> {
    const { run } = claimed;
    const attemptSpan = startAttemptSpan(run);
    const outcome = await withSpan(attemptSpan, () => this.#activate(claimed, scope));
    // The concurrency slot frees as soon as the activation has an outcome: recording it is
    // batched with other runs' outcomes while the next claim is already under way.
    this.#inflight.delete(run.id);
    // An idle worker's offer already covers the freed slot; otherwise claim again (runs may wait).
    if (this.#running && !(this.#offering && !this.#dirty)) this.#poke();
    try {
      await this.#finish(run, outcome, attemptSpan);
    } finally {
      this.#processed++;
    }
  }

  async #activate(claimed: ClaimedRun, scope: ActivationScope): Promise<ActivationOutcome> {
    const { run } = claimed;
    let deadlineTimer: NodeJS.Timeout | undefined;
    // The deadline bounds forward progress only: a run cancelling or compensating (after a
    // timeout, too) runs its compensations to the end.
    if (run.deadlineAt !== null && run.status === "running") {
      const reason = new KilnError("RUN_TIMEOUT", `Run ${run.id} exceeded its timeout`, { retryable: false });
      const ms = run.deadlineAt - this.#clock();
      if (ms <= 0) scope.cancel(reason);
      else deadlineTimer = setTimeout(() => scope.cancel(reason), ms);
    }
    let outcome: ActivationOutcome;
    try {
      if (run.type === "workflow") {
        const activate = await this.registry.resolveWorkflow(run);
        outcome = await activate(claimed, scope);
      } else {
        const registration = this.registry.findTask(run.name);
        if (run.status === "cancelling") outcome = { outcome: "cancelled" };
        else outcome = await runTaskActivation(registration.handler, claimed, scope);
      }
    } catch (error) {
      outcome = { outcome: "fail", error: serializeError(error, "INTERNAL"), compensable: false };
    } finally {
      clearTimeout(deadlineTimer);
    }
    return outcome;
  }

  async #finish(run: Run, outcome: ActivationOutcome, span?: Span): Promise<void> {
    // A host's step result over the cap was recorded as a failed step (host-calls.ts): replay the
    // run at once so the workflow code sees that failure, instead of waiting for the lease to expire.
    if (outcome.outcome === "abandoned" && outcome.error.code !== "PAYLOAD_TOO_LARGE") {
      endSpan(span, outcome.error);
      return;
    }
    const params = this.#toFinishParams(run, outcome.outcome === "abandoned" ? { outcome: "release" } : outcome);
    endAttemptSpans(run, span, params);
    try {
      const result = await this.#batcher.finishRun(params);
      if (!result.ok && result.error.code !== "LEASE_LOST") {
        this.#logger.warn(`Finishing run ${run.id} was rejected: ${result.error.message}`);
      }
    } catch (error) {
      // The lease runs out and another worker replays the run: nothing acknowledged is lost.
      this.#logger.error(`Could not record the outcome of run ${run.id}: ${serializeError(error).message}`);
    }
  }

  #toFinishParams(run: Run, outcome: Exclude<ActivationOutcome, { outcome: "abandoned" }>): FinishRunParams {
    const lease = { runId: run.id, leaseToken: run.leaseToken };
    switch (outcome.outcome) {
      case "complete": {
        const output = outcome.output;
        // null, numbers and booleans always encode, and small: only the rest is checked here.
        const simple = output === null || typeof output === "number" || typeof output === "boolean";
        try {
          if (!simple) encodePayload(output, `output of run ${run.id}`, this.#maxPayload);
        } catch (error) {
          return { ...lease, outcome: "fail", error: serializeError(error) };
        }
        return { ...lease, outcome: "complete", output: outcome.output };
      }
      case "fail": {
        const policy = run.retryPolicy ?? this.#defaultRetryPolicy(run);
        const decision = decideRetry(policy, run.attempt, outcome.error);
        if (decision.retry) {
          return { ...lease, outcome: "fail", error: outcome.error, retryAt: this.#clock() + decision.delayMs };
        }
        return { ...lease, outcome: "fail", error: outcome.error, compensate: outcome.compensable };
      }
      case "compensation-failed":
        return { ...lease, outcome: "fail", error: outcome.error };
      case "compensated":
        return run.error
          ? { ...lease, outcome: "compensated", error: run.error }
          : { ...lease, outcome: "compensated" };
      case "park":
        return { ...lease, outcome: "park", status: outcome.status, wakeAt: outcome.wakeAt };
      case "release":
        return { ...lease, outcome: "release" };
      case "cancelled":
        return { ...lease, outcome: "cancelled" };
      case "timed_out":
        return { ...lease, outcome: "timed_out", error: outcome.error };
    }
  }

  #defaultRetryPolicy(run: Run) {
    if (run.type === "task") {
      try {
        return this.registry.findTask(run.name).retryPolicy ?? NO_RETRY;
      } catch {
        return NO_RETRY;
      }
    }
    return NO_RETRY;
  }

  // ── Heartbeats and housekeeping ─────────────────────────────────────────────────────────────

  async #heartbeat(): Promise<void> {
    if (this.#inflight.size === 0) return;
    const leases = [...this.#inflight.values()].map((f) => f.lease);
    try {
      const result = await this.#client.extendLeases({ owner: this.name, leaseMs: this.#leaseMs, leases });
      for (const id of result.lost) {
        this.#inflight.get(id)?.scope.cancel(new KilnError("LEASE_LOST", `The lease on run ${id} was lost`));
      }
      for (const id of result.cancelRequested) {
        this.#inflight.get(id)?.scope.cancel(new KilnError("RUN_CANCELLED", `Run ${id} was cancelled`));
      }
    } catch (error) {
      this.#logger.warn(`Heartbeat failed: ${serializeError(error).message}`);
    }
  }

  async #housekeep(housekeeper: Housekeeper): Promise<void> {
    try {
      const result = await housekeeper.sweep({});
      if (result.woken > 0 || result.timedOut > 0) this.#poke();
    } catch (error) {
      this.#logger.warn(`Housekeeping failed: ${serializeError(error).message}`);
    }
  }
}
