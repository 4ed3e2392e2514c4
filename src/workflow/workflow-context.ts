import type { RetryPolicyInput } from "../engine/retry-policy.ts";
import type { Run } from "../engine/run.ts";
import type { LogLevel } from "../engine/log-level.ts";

/** Options of `ctx.step`. */
export interface StepOptions<T> {
  /** Retries of this step (default: one attempt). Durations in milliseconds. */
  readonly retry?: RetryPolicyInput;
  /** Fails the attempt with STEP_TIMEOUT after this long (ms or "30s"). */
  readonly timeout?: number | string;
  /** Undoes the step when the run fails terminally or is cancelled (saga). Gets the step output. */
  readonly compensate?: (output: T) => unknown;
}

/** Options of `ctx.waitForEvent`. */
export interface WaitForEventOptions {
  /** The event name; defaults to the wait's name. */
  readonly event?: string;
  /** Only an event with this correlation key matches. */
  readonly key?: string | null;
  /** Give up after this long (ms or "1h"): the wait throws EVENT_TIMEOUT. */
  readonly timeout?: number | string | null;
}

/** Options of child runs (`ctx.task`, `ctx.workflow`). */
export interface ChildOptions {
  readonly queue?: string;
  readonly priority?: number;
  readonly timeout?: number | string;
  /** The step name recording the child (default: `task:<kind>` / `workflow:<name>`). */
  readonly name?: string;
}

/**
 * The context a workflow function gets. Every method is durable: its result is recorded once
 * and replayed on later activations, so the function may run many times but each step's effect
 * happens (at least) once and is recorded exactly once.
 */
export interface WorkflowContext {
  /** The run being executed (id, name, attempt, input, …). */
  readonly run: Run;
  /** Runs `fn` once per run and returns its recorded result on replay. */
  step<T>(name: string, fn: () => T | Promise<T>, options?: StepOptions<Awaited<T>>): Promise<Awaited<T>>;
  /** Durable sleep: the run parks (no process, no memory) until the time has passed. */
  sleep(name: string, duration: number | string): Promise<void>;
  /** Waits for an event (buffered events sent earlier count); resolves with its payload. */
  waitForEvent<T = unknown>(name: string, options?: WaitForEventOptions): Promise<T>;
  /** Runs a task kind as a child run and resolves with its output. */
  task<T = unknown>(kind: string, input?: unknown, options?: ChildOptions): Promise<T>;
  /** Runs a workflow as a child run and resolves with its output. */
  workflow<T = unknown>(name: string, input?: unknown, options?: ChildOptions): Promise<T>;
  /** Deterministic time: the time of the latest step so far (replays see the same value). */
  now(): number;
  /** Deterministic random number in [0, 1), seeded by the run id. */
  random(): number;
  /** Deterministic UUID (v4 format), seeded by the run id. */
  uuid(): string;
  /** Appends a line to the run's log (suppressed while replaying recorded steps). */
  log(message: string, level?: LogLevel): void;
  /** Reports progress. */
  progress(percent: number | null, message?: string): void;
  /** An idempotency key stable across attempts, for the systems a step calls. */
  idempotencyKey(stepName?: string): string;
}

/** A workflow implementation: `async function workflow(input, { step, sleep }) { … }`. */
export type WorkflowFunction = (input: never, ctx: WorkflowContext) => unknown;
