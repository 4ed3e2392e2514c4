import { deserializeError, KilnError, type SerializedError, serializeError } from "../errors.ts";
import { parseDuration } from "../engine/duration.ts";
import { oversizeStepOutput } from "../engine/payload.ts";
import { decideRetry, resolveRetryPolicy } from "../engine/retry-policy.ts";
import type { Progress, Run } from "../engine/run.ts";
import { isStepSettled } from "../engine/status.ts";
import type { Step, StepType } from "../engine/step.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { LogLevel } from "../engine/log-level.ts";
import type { SaveStepParams, WriteResult } from "../engine/writes.ts";
import { seededRandom, uuidFrom } from "./deterministic.ts";
import { WORKFLOW_NAME_LABEL } from "../engine/workflow-label.ts";
import type {
  ChildOptions,
  StepOptions,
  WaitForEventOptions,
  WorkflowContext,
  WorkflowFunction,
} from "./workflow-context.ts";

/**
 * Where an activation records its steps: the worker's WriteBatcher (one store call per event-loop
 * turn for every activation), or a host process's own batcher. Declared here so the replay
 * runtime does not depend on the loop that drives it.
 */
export interface StepWriter {
  saveStep(item: SaveStepParams): Promise<WriteResult>;
}

/** What the worker needs to run one activation. */
export interface ActivationDeps {
  /** The engine verbs an activation calls itself (the worker's EngineClient satisfies it). */
  readonly client: Pick<EngineClient, "awaitEvent" | "startChildRun">;
  /** Where step records go (the worker's WriteBatcher; a host process has its own). */
  readonly batcher: StepWriter;
  readonly clock: () => number;
  /** Aborted on lost lease, cancel request, deadline or shutdown; the reason is a KilnError. */
  readonly signal: AbortSignal;
  readonly log: (level: LogLevel, message: string, stepName: string | null) => void;
  readonly progress: (progress: Progress) => void;
  /**
   * Replay only (determinism checks, `kiln replay`): a primitive missing from the history blocks
   * instead of executing, so no step function runs and nothing new is recorded.
   */
  readonly replayOnly?: boolean;
  /** The store's cap on one payload: a step result over it fails the step (PAYLOAD_TOO_LARGE). */
  readonly maxPayloadBytes?: number;
}

/** How a workflow's activations behave (from its registration). */
export interface ActivationOptions {
  /**
   * Opt-in (WorkflowRegistration.deferStepRecords): the workflow goes on as soon as a step's
   * function returned; its record is written with the others of the same turn and all of them are
   * confirmed before the activation's outcome (finish or park) or its next child or event wait.
   * Every step is still durable before the run completes, in fewer commits; the trade-offs: a
   * wider re-execution window (a crash before the confirmation runs those steps again), and a
   * record the store refuses for its content (over the payload cap) fails the run, not the step.
   */
  readonly deferStepRecords?: boolean;
}

/** How an activation ended; the worker turns it into a fenced finish. */
export type ActivationOutcome =
  | { readonly outcome: "complete"; readonly output: unknown }
  | { readonly outcome: "fail"; readonly error: SerializedError; readonly compensable: boolean }
  | { readonly outcome: "park"; readonly status: "sleeping" | "waiting"; readonly wakeAt: number | null }
  | { readonly outcome: "release" }
  | { readonly outcome: "cancelled" }
  | { readonly outcome: "compensated" }
  | { readonly outcome: "compensation-failed"; readonly error: SerializedError }
  | { readonly outcome: "timed_out"; readonly error: SerializedError }
  /** The lease was lost: write nothing more, another worker owns the run. */
  | { readonly outcome: "abandoned"; readonly error: SerializedError };

interface Block {
  readonly status: "sleeping" | "waiting";
  readonly wakeAt: number | null;
}

interface Compensation {
  readonly stepName: string;
  readonly seq: number;
  readonly output: unknown;
  readonly fn: (output: never) => unknown;
}

/**
 * A promise that never settles: a primitive that blocks the workflow until a later activation.
 * A fresh one each time: a shared pending promise would keep every parked activation's frames
 * reachable through its reaction list forever (100,000 sleepers leaked gigabytes).
 */
function blocked(): Promise<never> {
  return new Promise<never>(() => {});
}

/**
 * Offset of compensation step seqs, so they never collide with the forward sequence. The
 * compensation of the step at seq S is at COMPENSATION_SEQ + (COMPENSATION_SEQ - 1 - S): later
 * steps are compensated first, so listing steps by seq shows compensations in the order they ran.
 */
const COMPENSATION_SEQ = 1_000_000;

/** Codes of a write refused for its content: retrying the same write cannot succeed. */
const REFUSED_CONTENT: ReadonlySet<string> = new Set(["PAYLOAD_TOO_LARGE", "INVALID_INPUT"]);

/**
 * One activation of a workflow run: re-runs the workflow function from the start, replaying
 * recorded steps and executing new ones, until it completes, fails, or every branch is blocked
 * on a durable wait (then the run parks). In compensation mode (runs `compensating` or
 * `cancelling`), it replays to collect the compensations of completed steps and runs them in
 * reverse order, each recorded as a step.
 */
export class WorkflowActivation {
  readonly #fn: WorkflowFunction;
  readonly #run: Run;
  readonly #deps: ActivationDeps;
  readonly #defer: boolean;
  readonly #compensationMode: boolean;
  /** Compensation mode or replay only: primitives missing from the history block. */
  readonly #historyOnly: boolean;
  readonly #history = new Map<string, Step>();
  readonly #bySeq = new Map<number, Step>();
  readonly #names = new Map<string, number>();
  readonly #blocks: Block[] = [];
  readonly #compensations: Compensation[] = [];
  readonly #random: () => number;
  readonly #maxRecordedSeq: number;
  #seq = 0;
  #pending = 0;
  #time: number;
  #settled = false;
  #idleScheduled = false;
  /** Step records written but not yet confirmed (deferStepRecords). */
  readonly #unconfirmed: Promise<boolean | SerializedError>[] = [];
  #resolve!: (outcome: ActivationOutcome) => void;
  readonly #result: Promise<ActivationOutcome>;

  constructor(fn: WorkflowFunction, claimed: ClaimedRun, deps: ActivationDeps, options: ActivationOptions = {}) {
    this.#fn = fn;
    this.#run = claimed.run;
    this.#deps = deps;
    this.#defer = options.deferStepRecords === true;
    this.#compensationMode = claimed.run.status === "compensating" || claimed.run.status === "cancelling";
    this.#historyOnly = this.#compensationMode || deps.replayOnly === true;
    let max = -1;
    for (const step of claimed.steps) {
      this.#history.set(step.name, step);
      if (step.seq < COMPENSATION_SEQ) {
        this.#bySeq.set(step.seq, step);
        max = Math.max(max, step.seq);
      }
    }
    this.#maxRecordedSeq = max;
    this.#random = seededRandom(claimed.run.id);
    this.#time = claimed.run.createdAt;
    this.#result = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** How many primitives (steps, sleeps, waits, children) the code has called so far. */
  get reached(): number {
    return this.#seq;
  }

  /**
   * Primitives in flight: step functions running, and writes of steps, sleeps, waits and
   * children not yet answered. A host that answers writes only in a later round (the cloudflare
   * adapter's Worker) ends its round when every one of them waits for such an answer.
   */
  get inFlight(): number {
    return this.#pending;
  }

  /** Runs the activation to its outcome. Never rejects. */
  run(): Promise<ActivationOutcome> {
    const { signal } = this.#deps;
    if (signal.aborted) {
      this.#finishAborted(signal.reason);
      return this.#result;
    }
    signal.addEventListener("abort", () => this.#finishAborted(signal.reason), { once: true });
    let returned: unknown;
    try {
      returned = this.#fn(this.#run.input as never, this.#context());
    } catch (error) {
      returned = Promise.reject(error);
    }
    Promise.resolve(returned).then(
      (output) => this.#onReturn(output),
      (error: unknown) => this.#onThrow(error),
    );
    this.#scheduleIdleCheck();
    return this.#result;
  }

  // ── The context ───────────────────────────────────────────────────────────────────────────

  #context(): WorkflowContext {
    return Object.freeze({
      run: this.#run,
      step: <T>(name: string, fn: () => T | Promise<T>, options?: StepOptions<Awaited<T>>) =>
        this.#step(name, fn, options),
      sleep: (name: string, duration: number | string) => this.#sleep(name, duration),
      waitForEvent: <T>(name: string, options?: WaitForEventOptions) => this.#waitForEvent(name, options) as Promise<T>,
      task: <T>(kind: string, input?: unknown, options?: ChildOptions) =>
        this.#child("task", kind, input, options) as Promise<T>,
      workflow: <T>(name: string, input?: unknown, options?: ChildOptions) =>
        this.#child("workflow", name, input, options) as Promise<T>,
      now: () => this.#time,
      random: () => this.#random(),
      uuid: () => uuidFrom(this.#random),
      log: (message: string, level: LogLevel = "info") => {
        if (!this.#isReplaying()) this.#deps.log(level, message, null);
      },
      progress: (percent: number | null, message?: string) => {
        if (!this.#isReplaying()) this.#deps.progress({ percent, message: message ?? null });
      },
      idempotencyKey: (stepName?: string) => (stepName ? `${this.#run.id}/${stepName}` : this.#run.id),
    });
  }

  #isReplaying(): boolean {
    return this.#seq <= this.#maxRecordedSeq;
  }

  /** Names the next primitive (`fetch`, `fetch#2`, …), assigns its seq and checks determinism. */
  #next(base: string, type: StepType): { name: string; seq: number; recorded: Step | undefined } | undefined {
    if (this.#settled) return undefined;
    if (typeof base !== "string" || base.length === 0) {
      this.#finish({
        outcome: "fail",
        error: serializeError(new KilnError("INVALID_INPUT", "Every step needs a non-empty string name")),
        compensable: this.#compensations.length > 0,
      });
      return undefined;
    }
    const count = (this.#names.get(base) ?? 0) + 1;
    this.#names.set(base, count);
    const name = count === 1 ? base : `${base}#${count}`;
    const seq = this.#seq++;
    const recorded = this.#history.get(name);
    const atSeq = this.#bySeq.get(seq);
    const mismatch =
      (recorded !== undefined && (recorded.type !== type || recorded.seq !== seq)) ||
      (recorded === undefined && atSeq !== undefined);
    if (mismatch) {
      const expected = atSeq ?? recorded;
      const message = expected
        ? `Non-deterministic workflow "${this.#run.name}": position ${seq} was recorded as ${expected.type} "${expected.name}", but the code now calls ${type} "${name}". Deploy the change as a new version, or retry the run from an earlier step.`
        : `Non-deterministic workflow "${this.#run.name}": ${type} "${name}" was recorded at position ${recorded?.seq}, but the code now calls it at position ${seq}.`;
      this.#finish({
        outcome: "fail",
        error: serializeError(
          new KilnError("NON_DETERMINISTIC", message, {
            retryable: false,
            data: { expected: expected?.name ?? null, actual: name, position: seq },
          }),
        ),
        compensable: this.#compensations.length > 0,
      });
      return undefined;
    }
    if (recorded)
      this.#time = Math.max(this.#time, recorded.type === "sleep" ? (recorded.wakeAt ?? 0) : recorded.startedAt);
    return { name, seq, recorded };
  }

  async #step<T>(base: string, fn: () => T | Promise<T>, options?: StepOptions<Awaited<T>>): Promise<Awaited<T>> {
    const slot = this.#next(base, "step");
    if (!slot) return blocked();
    const { name, seq, recorded } = slot;
    // A compensated step is replayed as done (compensation mode, `kiln replay`); a retry of the
    // run forgets it, so it runs again.
    if (recorded?.status === "completed" || recorded?.status === "compensated") {
      if (options?.compensate && recorded.compensable) this.#registerCompensation(name, seq, recorded.output, options);
      return recorded.output as Awaited<T>;
    }
    if (recorded?.status === "failed") throw deserializeError(recorded.error ?? unknownError);
    if (this.#historyOnly) return this.#block({ status: "waiting", wakeAt: null });
    const now = this.#deps.clock();
    if (recorded?.wakeAt != null && recorded.wakeAt > now)
      return this.#block({ status: "sleeping", wakeAt: recorded.wakeAt });
    const attempt = (recorded?.attempt ?? 0) + 1;
    let blockedUntil: number | null = null;
    this.#pending++;
    try {
      let output: Awaited<T>;
      try {
        output = await this.#invoke(fn, options?.timeout, name);
        const tooLarge = oversizeStepOutput(output, name, this.#deps.maxPayloadBytes);
        if (tooLarge) throw tooLarge;
      } catch (error) {
        // Throws the terminal error, or returns the retry time (then block outside `pending`).
        blockedUntil = await this.#stepFailed(name, seq, attempt, error, options);
        if (blockedUntil === null) return blocked();
        return this.#block({ status: "sleeping", wakeAt: blockedUntil });
      }
      const recording = this.#record({
        name,
        seq,
        type: "step",
        status: "completed",
        output: output === undefined ? null : output,
        attempt,
        compensable: options?.compensate !== undefined,
        startedAt: now,
      });
      const defer = this.#defer && !this.#compensationMode;
      if (defer) this.#unconfirmed.push(recording);
      const saved = defer ? true : await recording;
      if (saved === false) return blocked();
      if (saved !== true) {
        // The store refused the result (over the payload limit, not JSON): the step fails with
        // that error, without retries (the same result would be refused again).
        await this.#stepFailed(name, seq, attempt, deserializeError(saved), undefined);
        return blocked();
      }
      this.#time = Math.max(this.#time, now);
      if (options?.compensate) this.#registerCompensation(name, seq, output, options);
      return output;
    } finally {
      this.#pending--;
      this.#scheduleIdleCheck();
    }
  }

  async #invoke<T>(fn: () => T | Promise<T>, timeout: number | string | undefined, name: string): Promise<Awaited<T>> {
    if (timeout === undefined) return await fn();
    const ms = parseDuration(timeout, `timeout of step ${name}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        Promise.resolve().then(fn),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new KilnError("STEP_TIMEOUT", `Step "${name}" did not finish within ${ms} ms`)),
            ms,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #stepFailed<T>(
    name: string,
    seq: number,
    attempt: number,
    error: unknown,
    options: StepOptions<T> | undefined,
  ): Promise<number | null> {
    const serialized = serializeError(error, "STEP_FAILED");
    const policy = resolveRetryPolicy(options?.retry);
    const decision = decideRetry(policy, attempt, serialized, this.#random);
    const now = this.#deps.clock();
    if (decision.retry) {
      const wakeAt = now + decision.delayMs;
      const ok = await this.#save({ name, seq, type: "step", status: "running", error: serialized, attempt, wakeAt });
      if (!ok) return null;
      this.#deps.log("warning", `Step "${name}" attempt ${attempt} failed: ${serialized.message}; retrying`, name);
      return wakeAt;
    }
    const ok = await this.#save({ name, seq, type: "step", status: "failed", error: serialized, attempt });
    if (!ok) return null;
    throw deserializeError(serialized);
  }

  async #sleep(base: string, duration: number | string): Promise<void> {
    const slot = this.#next(base, "sleep");
    if (!slot) return blocked();
    const { name, seq, recorded } = slot;
    const now = this.#deps.clock();
    if (recorded) {
      const wakeAt = recorded.wakeAt ?? 0;
      if (wakeAt > now) return this.#block({ status: "sleeping", wakeAt });
      if (recorded.status !== "completed" && !this.#compensationMode) {
        void this.#save({ name, seq, type: "sleep", status: "completed", wakeAt, startedAt: recorded.startedAt });
      }
      return;
    }
    if (this.#historyOnly) return this.#block({ status: "waiting", wakeAt: null });
    const ms = parseDuration(duration, `duration of sleep ${name}`);
    const wakeAt = now + ms;
    this.#pending++;
    try {
      const status = ms <= 0 ? "completed" : "waiting";
      if (!(await this.#save({ name, seq, type: "sleep", status, wakeAt, startedAt: now }))) return blocked();
    } finally {
      this.#pending--;
      this.#scheduleIdleCheck();
    }
    if (ms <= 0) return;
    return this.#block({ status: "sleeping", wakeAt });
  }

  async #waitForEvent(base: string, options: WaitForEventOptions = {}): Promise<unknown> {
    const slot = this.#next(base, "event");
    if (!slot) return blocked();
    const { name, seq, recorded } = slot;
    const now = this.#deps.clock();
    if (recorded) return this.#settleWait(recorded, name, seq, now);
    if (this.#historyOnly) return this.#block({ status: "waiting", wakeAt: null });
    const timeoutMs = options.timeout == null ? null : parseDuration(options.timeout, `timeout of wait ${name}`);
    this.#pending++;
    let result: WriteResult & { readonly step?: Step };
    try {
      // A durable boundary: deferred step records are confirmed before it is written.
      if (!(await this.#confirmDeferred())) return blocked();
      result = await this.#deps.client.awaitEvent({
        runId: this.#run.id,
        leaseToken: this.#run.leaseToken,
        stepName: name,
        seq,
        eventName: options.event ?? base,
        key: options.key ?? null,
        timeoutAt: timeoutMs === null ? null : now + timeoutMs,
      });
    } catch (error) {
      this.#failInfrastructure(error);
      return blocked();
    } finally {
      this.#pending--;
      this.#scheduleIdleCheck();
    }
    if (!this.#accept(result) || !result.step) return blocked();
    return this.#settleWait(result.step, name, seq, now);
  }

  async #settleWait(step: Step, name: string, seq: number, now: number): Promise<unknown> {
    if (step.status === "completed") return step.output;
    if (step.status === "failed") throw deserializeError(step.error ?? unknownError);
    if (this.#compensationMode) return this.#block({ status: "waiting", wakeAt: null });
    if (step.wakeAt !== null && step.wakeAt <= now) {
      const error = new KilnError("EVENT_TIMEOUT", `No event "${step.eventName}" arrived for wait "${name}" in time`, {
        data: { event: step.eventName, key: step.eventKey },
      });
      this.#pending++;
      try {
        const ok = await this.#save({ name, seq, type: "event", status: "failed", error: serializeError(error) });
        if (!ok) return blocked();
      } finally {
        this.#pending--;
        this.#scheduleIdleCheck();
      }
      throw error;
    }
    return this.#block({ status: "waiting", wakeAt: step.wakeAt });
  }

  async #child(
    type: "task" | "workflow",
    target: string,
    input: unknown,
    options: ChildOptions = {},
  ): Promise<unknown> {
    const slot = this.#next(options.name ?? `${type}:${target}`, "child");
    if (!slot) return blocked();
    const { name, seq, recorded } = slot;
    if (recorded?.status === "completed") return recorded.output;
    if (recorded?.status === "failed") throw deserializeError(recorded.error ?? unknownError);
    if (recorded || this.#historyOnly) return this.#block({ status: "waiting", wakeAt: null });
    this.#pending++;
    try {
      // A durable boundary: deferred step records are confirmed before the child starts.
      if (!(await this.#confirmDeferred())) return blocked();
      const result = await this.#deps.client.startChildRun({
        runId: this.#run.id,
        leaseToken: this.#run.leaseToken,
        stepName: name,
        seq,
        child: {
          type,
          name: target,
          input: input ?? null,
          // The child's scripts see the starting workflow as KILN_WORKFLOW_NAME.
          metadata: { [WORKFLOW_NAME_LABEL]: this.#run.name },
          ...(options.queue === undefined ? { queue: this.#run.queue } : { queue: options.queue }),
          ...(options.priority === undefined ? {} : { priority: options.priority }),
          ...(options.timeout === undefined ? {} : { timeoutMs: parseDuration(options.timeout, `timeout of ${name}`) }),
        },
      });
      if (!this.#accept(result)) return blocked();
    } catch (error) {
      this.#failInfrastructure(error);
      return blocked();
    } finally {
      this.#pending--;
      this.#scheduleIdleCheck();
    }
    return this.#block({ status: "waiting", wakeAt: null });
  }

  // ── Plumbing ──────────────────────────────────────────────────────────────────────────────

  async #save(step: Omit<SaveStepParams, "runId" | "leaseToken">): Promise<boolean> {
    try {
      const result = await this.#deps.batcher.saveStep({
        runId: this.#run.id,
        leaseToken: this.#run.leaseToken,
        startedAt: this.#deps.clock(),
        ...step,
      });
      return this.#accept(result);
    } catch (error) {
      this.#failInfrastructure(error);
      return false;
    }
  }

  /**
   * Records a step result: true when written, false when the activation must stop, or the
   * store's error when it refused the content (the caller fails the step with it).
   */
  async #record(step: Omit<SaveStepParams, "runId" | "leaseToken">): Promise<boolean | SerializedError> {
    let result: WriteResult;
    try {
      result = await this.#deps.batcher.saveStep({
        runId: this.#run.id,
        leaseToken: this.#run.leaseToken,
        startedAt: this.#deps.clock(),
        ...step,
      });
    } catch (error) {
      this.#failInfrastructure(error);
      return false;
    }
    if (!result.ok && REFUSED_CONTENT.has(result.error.code)) return result.error;
    return this.#accept(result);
  }

  /** Applies a fenced write's outcome; false means the activation must stop. */
  #accept(result: WriteResult): boolean {
    if (!result.ok && REFUSED_CONTENT.has(result.error.code)) {
      // The write can never succeed (a child's input over the limit, …): the run fails, where
      // giving up the lease would replay the same refused write forever.
      this.#finish({ outcome: "fail", error: result.error, compensable: this.#compensations.length > 0 });
      return false;
    }
    if (!result.ok) {
      this.#finish({ outcome: "abandoned", error: result.error });
      return false;
    }
    if (result.cancelRequested && !this.#compensationMode) {
      this.#finish({ outcome: "release" });
      return false;
    }
    return true;
  }

  /** The store could not be reached: give the run back so it is retried, not failed. */
  #failInfrastructure(error: unknown): void {
    this.#deps.log("error", `Store write failed: ${serializeError(error).message}`, null);
    this.#finish({ outcome: "abandoned", error: serializeError(error, "STORE_UNAVAILABLE") });
  }

  #block(block: Block): Promise<never> {
    this.#blocks.push(block);
    this.#scheduleIdleCheck();
    return blocked();
  }

  #registerCompensation<T>(stepName: string, seq: number, output: unknown, options: StepOptions<T>): void {
    if (options.compensate) {
      this.#compensations.push({ stepName, seq, output, fn: options.compensate as (o: never) => unknown });
    }
  }

  #scheduleIdleCheck(): void {
    if (this.#idleScheduled || this.#settled) return;
    this.#idleScheduled = true;
    setImmediate(() => {
      this.#idleScheduled = false;
      if (this.#settled || this.#pending > 0) return;
      if (this.#compensationMode) {
        if (this.#blocks.length > 0) void this.#compensate(null);
        return;
      }
      if (this.#blocks.length === 0) return;
      const waiting = this.#blocks.some((b) => b.status === "waiting");
      const wakeAts = this.#blocks.map((b) => b.wakeAt).filter((t): t is number => t !== null);
      const wakeAt = wakeAts.length > 0 ? Math.min(...wakeAts) : null;
      this.#finish({ outcome: "park", status: waiting ? "waiting" : "sleeping", wakeAt });
    });
  }

  #onReturn(output: unknown): void {
    if (this.#settled) return;
    if (this.#compensationMode) {
      void this.#compensate(null);
      return;
    }
    const finish = () => this.#finish({ outcome: "complete", output: output === undefined ? null : output });
    // Let in-flight step writes that the function did not await land first.
    if (this.#pending === 0) finish();
    else this.#whenIdle(finish);
  }

  #onThrow(error: unknown): void {
    if (this.#settled) return;
    if (this.#compensationMode) {
      void this.#compensate(null);
      return;
    }
    const serialized = serializeError(error, "WORKFLOW_FAILED");
    this.#finish({ outcome: "fail", error: serialized, compensable: this.#compensations.length > 0 });
  }

  #whenIdle(fn: () => void): void {
    const check = () => {
      if (this.#settled) return;
      if (this.#pending === 0) fn();
      else setImmediate(check);
    };
    setImmediate(check);
  }

  /** Runs registered compensations in reverse order, each recorded as a step. */
  async #compensate(_reason: null): Promise<void> {
    if (this.#settled) return;
    this.#settled = true; // No more forward progress in this activation.
    const errors: SerializedError[] = [];
    const ordered = [...this.#compensations].sort((a, b) => b.seq - a.seq);
    for (const c of ordered) {
      const name = `compensate:${c.stepName}`;
      const recorded = this.#history.get(name);
      if (recorded && isStepSettled(recorded.status)) {
        if (recorded.status === "failed" && recorded.error) errors.push(recorded.error);
        continue;
      }
      let status: "completed" | "failed" = "completed";
      let error: SerializedError | null = null;
      try {
        await c.fn(c.output as never);
      } catch (e) {
        status = "failed";
        error = serializeError(e, "COMPENSATION_FAILED");
        errors.push(error);
      }
      let result: WriteResult;
      try {
        result = await this.#deps.batcher.saveStep({
          runId: this.#run.id,
          leaseToken: this.#run.leaseToken,
          name,
          seq: COMPENSATION_SEQ + (COMPENSATION_SEQ - 1 - c.seq),
          type: "compensation",
          status,
          output: null,
          error,
          compensates: c.stepName,
          startedAt: this.#deps.clock(),
        });
      } catch (e) {
        this.#resolve({ outcome: "abandoned", error: serializeError(e, "STORE_UNAVAILABLE") });
        return;
      }
      if (!result.ok) {
        this.#resolve({ outcome: "abandoned", error: result.error });
        return;
      }
    }
    if (errors.length > 0) {
      this.#resolve({
        outcome: "compensation-failed",
        error: serializeError(
          new KilnError(
            "COMPENSATION_FAILED",
            `${errors.length} compensation(s) failed: ${errors.map((e) => e.message).join("; ")}`,
            { retryable: false, data: { errors, originalError: this.#run.error } },
          ),
        ),
      });
    } else {
      this.#resolve(this.#run.status === "cancelling" ? { outcome: "cancelled" } : { outcome: "compensated" });
    }
  }

  #finishAborted(reason: unknown): void {
    if (this.#settled) return;
    if (reason instanceof KilnError && reason.code === "RUN_TIMEOUT") {
      this.#finish({ outcome: "timed_out", error: serializeError(reason) });
    } else if (reason instanceof KilnError && reason.code === "RUN_CANCELLED") {
      this.#finish({ outcome: "release" });
    } else if (reason instanceof KilnError && reason.code === "WORKER_STOPPED") {
      this.#finish({ outcome: "release" });
    } else {
      this.#finish({ outcome: "abandoned", error: serializeError(reason, "LEASE_LOST") });
    }
  }

  #finish(outcome: ActivationOutcome): void {
    if (this.#settled) return;
    if (this.#unconfirmed.length > 0 && outcome.outcome !== "abandoned" && outcome.outcome !== "release") {
      // Deferred step records: the outcome waits for them. A record the store refused for its
      // content fails the run; a lost lease already ended the activation (in #accept).
      void this.#confirmDeferred().then((ok) => {
        if (ok) this.#finish(outcome);
      });
      return;
    }
    this.#settled = true;
    this.#resolve(outcome);
  }

  /** Waits for the deferred step records; false when one was not written (the activation ended). */
  async #confirmDeferred(): Promise<boolean> {
    const verdicts = await Promise.all(this.#unconfirmed.splice(0));
    const refused = verdicts.find((v): v is SerializedError => v !== true && v !== false);
    if (refused) this.#finish({ outcome: "fail", error: refused, compensable: this.#compensations.length > 0 });
    return verdicts.every((v) => v === true);
  }
}

const unknownError: SerializedError = { code: "STEP_FAILED", message: "The step failed (no error was recorded)" };
