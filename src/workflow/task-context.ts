import type { Progress, Run } from "../engine/run.ts";
import type { RetryPolicy } from "../engine/retry-policy.ts";
import type { Step } from "../engine/step.ts";
import type { LogLevel } from "../engine/log-level.ts";

/**
 * What a task handler (a JS function, or the script executor) gets from the worker for one
 * attempt of a task run. Every write is fenced by the worker's lease; when the lease is lost, the
 * run is cancelled or the worker stops, `signal` aborts and the handler must stop promptly.
 */
export interface TaskContext {
  readonly run: Run;
  /** Aborted on cancel, lost lease, timeout or worker shutdown; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** The run's deadline (epoch ms) or null. */
  readonly deadlineAt: number | null;
  /** Appends a log line to the run (batched by the worker). */
  log(level: LogLevel, message: string): void;
  /** Reports progress (batched; the latest wins). */
  progress(progress: Progress): void;
  /** Sets (or with null deletes) a state key that survives retries. */
  setState(key: string, value: string | null): Promise<void>;
  /** Tells the worker the handler is alive (scripts: `::heartbeat::`). */
  heartbeat(): void;
  /** Durable steps inside a task (`kiln step`, `kiln sleep`, `kiln wait-event`). */
  readonly steps: TaskSteps;
}

/** Durable steps for task runs: memoized by name across attempts and activations. */
export interface TaskSteps {
  /** The recorded step with this name, if any. */
  get(name: string): Step | undefined;
  /** Records a completed step (exactly once; a second record fails with STEP_ALREADY_RECORDED). */
  complete(name: string, output: unknown): Promise<void>;
  /**
   * Durable sleep: `done` when the named sleep already elapsed; otherwise records it and returns
   * `parked` — the handler must then stop its work and throw `new RunParked()`; the run is re-run
   * from the top when the sleep ends.
   */
  sleep(name: string, durationMs: number): Promise<"done" | "parked">;
  /** Durable event wait, same contract as sleep: `received` with the payload, `timeout`, or `parked`. */
  waitForEvent(
    name: string,
    options: Readonly<{ event: string; key?: string | null; timeoutMs?: number | null }>,
  ): Promise<{ readonly status: "received"; readonly payload: unknown } | { readonly status: "timeout" | "parked" }>;
}

/** Thrown by a task handler after a step returned `parked`: the worker parks the run. */
export class RunParked extends Error {
  override readonly name = "RunParked";
  constructor() {
    super("The run is parked until its timer or event");
  }
}

/**
 * A task kind's implementation: returns the run's output, or throws (a KilnError's `retryable`
 * decides whether the run's retry policy applies).
 */
export type TaskHandler = (input: unknown, ctx: TaskContext) => Promise<unknown>;

/** A task kind the worker can execute, with its defaults. */
export interface TaskRegistration {
  readonly kind: string;
  readonly handler: TaskHandler;
  /** Retry policy used for runs started without one. */
  readonly retryPolicy: RetryPolicy | null;
  /** Settings reported to the server when the worker registers (config of script kinds). */
  readonly settings: Readonly<Record<string, unknown>>;
}

/**
 * Where task kinds are registered: the worker's registry (`worker.registry`). Declared here so
 * the folders that supply kinds (exec/ for scripts) never import the loop.
 */
export interface TaskKinds {
  addTask(registration: TaskRegistration): void;
}
