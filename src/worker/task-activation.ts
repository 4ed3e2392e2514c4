import { KilnError, serializeError } from "../errors.ts";
import type { Progress, Run } from "../engine/run.ts";
import type { Step } from "../engine/step.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { LogLevel } from "../engine/log-level.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import { RunParked, type TaskContext, type TaskHandler, type TaskSteps } from "../workflow/task-context.ts";
import type { ActivationOutcome } from "../workflow/workflow-activation.ts";
import type { WriteBatcher } from "./write-batcher.ts";

/** What the worker gives a task activation. */
export interface TaskActivationDeps {
  readonly client: EngineClient;
  readonly batcher: WriteBatcher;
  readonly clock: () => number;
  /** Handed to the handler (`ctx.signal`); read only when the handler asks for it. */
  readonly signal: AbortSignal;
  /** Whether (and why) the activation was aborted, without making a signal (AbortSignal fits). */
  readonly abort: { readonly aborted: boolean; readonly reason: unknown };
  log(level: LogLevel, message: string, stepName: string | null): void;
  progress(progress: Progress): void;
}

/** A lost lease seen by a fenced write of the activation. */
interface Lost {
  outcome: ActivationOutcome | null;
}

/** Durable steps inside one task activation (`kiln step`, `kiln sleep`, `kiln wait-event`). */
class ActivationSteps implements TaskSteps {
  readonly #run: Run;
  readonly #deps: TaskActivationDeps;
  readonly #lost: Lost;
  readonly #history: Map<string, Step>;
  #nextSeq: number;
  /** What the activation parked on, if the handler then throws RunParked. */
  readonly blocks: { status: "sleeping" | "waiting"; wakeAt: number | null }[] = [];

  constructor(claimed: ClaimedRun, deps: TaskActivationDeps, lost: Lost) {
    this.#run = claimed.run;
    this.#deps = deps;
    this.#lost = lost;
    this.#history = new Map(claimed.steps.map((s) => [s.name, s]));
    this.#nextSeq = claimed.steps.reduce((max, s) => Math.max(max, s.seq + 1), 0);
  }

  get(name: string): Step | undefined {
    return this.#history.get(name);
  }

  async complete(name: string, output: unknown): Promise<void> {
    const run = this.#run;
    const seq = this.#nextSeq++;
    const startedAt = this.#deps.clock();
    const record = { runId: run.id, leaseToken: run.leaseToken, name, seq, type: "step" as const };
    await fenced(
      this.#lost,
      this.#deps.batcher.saveStep({ ...record, status: "completed", output: output ?? null, startedAt }),
    );
    this.#history.set(name, syntheticStep(run.id, name, seq, output, this.#deps.clock()));
  }

  async sleep(name: string, durationMs: number): Promise<"done" | "parked"> {
    const now = this.#deps.clock();
    const recorded = this.#history.get(name);
    if (recorded) {
      if ((recorded.wakeAt ?? 0) <= now) return "done";
      this.blocks.push({ status: "sleeping", wakeAt: recorded.wakeAt });
      return "parked";
    }
    if (durationMs <= 0) return "done";
    const wakeAt = now + durationMs;
    const run = this.#run;
    await fenced(
      this.#lost,
      this.#deps.batcher.saveStep({
        runId: run.id,
        leaseToken: run.leaseToken,
        name,
        seq: this.#nextSeq++,
        type: "sleep",
        status: "waiting",
        wakeAt,
        startedAt: now,
      }),
    );
    this.blocks.push({ status: "sleeping", wakeAt });
    return "parked";
  }

  async waitForEvent(
    name: string,
    options: Readonly<{ event: string; key?: string | null; timeoutMs?: number | null }>,
  ): Promise<{ readonly status: "received"; readonly payload: unknown } | { readonly status: "timeout" | "parked" }> {
    const now = this.#deps.clock();
    let step = this.#history.get(name);
    if (!step) {
      const result = await this.#deps.client.awaitEvent({
        runId: this.#run.id,
        leaseToken: this.#run.leaseToken,
        stepName: name,
        seq: this.#nextSeq++,
        eventName: options.event,
        key: options.key ?? null,
        timeoutAt: options.timeoutMs == null ? null : now + options.timeoutMs,
      });
      await fenced(this.#lost, Promise.resolve(result));
      step = result.ok ? result.step : undefined;
      if (step) this.#history.set(name, step);
    }
    if (!step) throw new KilnError("INTERNAL", `The store did not return the wait step "${name}"`);
    if (step.status === "completed") return { status: "received", payload: step.output };
    if (step.status === "failed" || (step.wakeAt !== null && step.wakeAt <= now)) return { status: "timeout" };
    this.blocks.push({ status: "waiting", wakeAt: step.wakeAt });
    return { status: "parked" };
  }
}

/**
 * The context of one task activation. Its parts are made when first used: a no-op handler costs
 * one object, no steps map, no abort signal.
 */
class ActivationContext implements TaskContext {
  readonly run: Run;
  readonly deadlineAt: number | null;
  readonly lost: Lost = { outcome: null };
  readonly #claimed: ClaimedRun;
  readonly #deps: TaskActivationDeps;
  #steps: ActivationSteps | null = null;

  constructor(claimed: ClaimedRun, deps: TaskActivationDeps) {
    this.#claimed = claimed;
    this.#deps = deps;
    this.run = claimed.run;
    this.deadlineAt = claimed.run.deadlineAt;
  }

  get signal(): AbortSignal {
    return this.#deps.signal;
  }

  get steps(): ActivationSteps {
    this.#steps ??= new ActivationSteps(this.#claimed, this.#deps, this.lost);
    return this.#steps;
  }

  /** What the steps parked on (empty when no step parked). */
  get blocks(): readonly { status: "sleeping" | "waiting"; wakeAt: number | null }[] {
    return this.#steps?.blocks ?? [];
  }

  log(level: LogLevel, message: string): void {
    this.#deps.log(level, message, null);
  }

  progress(progress: Progress): void {
    this.#deps.progress(progress);
  }

  async setState(key: string, value: string | null): Promise<void> {
    const write = this.#deps.batcher.updateRun({
      runId: this.run.id,
      leaseToken: this.run.leaseToken,
      state: { [key]: value },
    });
    await fenced(this.lost, write);
  }

  heartbeat(): void {}
}

/** Awaits a fenced write; a rejected one marks the activation abandoned and throws LEASE_LOST. */
async function fenced(
  lost: Lost,
  write: Promise<{ ok: boolean; error?: unknown; cancelRequested?: boolean }>,
): Promise<void> {
  const result = await write;
  if (!result.ok) {
    const error = serializeError((result as { error: unknown }).error, "LEASE_LOST");
    lost.outcome = { outcome: "abandoned", error };
    throw new KilnError("LEASE_LOST", error.message);
  }
}

/**
 * Runs one attempt (or one activation, after a durable sleep) of a task run through its handler,
 * and maps what happened to an activation outcome.
 */
export async function runTaskActivation(
  handler: TaskHandler,
  claimed: ClaimedRun,
  deps: TaskActivationDeps,
): Promise<ActivationOutcome> {
  const ctx = new ActivationContext(claimed, deps);
  try {
    const output = await handler(claimed.run.input, ctx);
    if (ctx.lost.outcome) return ctx.lost.outcome;
    if (deps.abort.aborted) return abortedOutcome(deps.abort.reason);
    return { outcome: "complete", output: output === undefined ? null : output };
  } catch (error) {
    if (ctx.lost.outcome) return ctx.lost.outcome;
    const blocks = ctx.blocks;
    if (error instanceof RunParked && blocks.length > 0) {
      const waiting = blocks.some((b) => b.status === "waiting");
      const times = blocks.map((b) => b.wakeAt).filter((t): t is number => t !== null);
      return {
        outcome: "park",
        status: waiting ? "waiting" : "sleeping",
        wakeAt: times.length ? Math.min(...times) : null,
      };
    }
    if (deps.abort.aborted) return abortedOutcome(deps.abort.reason);
    return { outcome: "fail", error: serializeError(error, "TASK_FAILED"), compensable: false };
  }
}

/** Maps the abort reason of a task to its outcome: cancel ends the run, shutdown gives it back. */
function abortedOutcome(reason: unknown): ActivationOutcome {
  if (reason instanceof KilnError) {
    if (reason.code === "RUN_CANCELLED") return { outcome: "cancelled" };
    if (reason.code === "RUN_TIMEOUT") return { outcome: "timed_out", error: serializeError(reason) };
    if (reason.code === "WORKER_STOPPED") return { outcome: "release" };
  }
  return { outcome: "abandoned", error: serializeError(reason, "LEASE_LOST") };
}

function syntheticStep(runId: string, name: string, seq: number, output: unknown, now: number): Step {
  return {
    runId,
    name,
    seq,
    type: "step",
    status: "completed",
    output: output ?? null,
    error: null,
    attempt: 1,
    wakeAt: null,
    childRunId: null,
    eventName: null,
    eventKey: null,
    compensable: false,
    startedAt: now,
    finishedAt: now,
  };
}
