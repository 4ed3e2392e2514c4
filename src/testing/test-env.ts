import { KilnError } from "../errors.ts";
import { parseDuration } from "../engine/duration.ts";
import type { RetryPolicyInput } from "../engine/retry-policy.ts";
import type { Run } from "../engine/run.ts";
import { startRunParams } from "../engine/start-options.ts";
import { isTerminal } from "../engine/status.ts";
import type { Step } from "../engine/step.ts";
import { isWorkflowDefinition, type WorkflowDefinition } from "../workflow/define-workflow.ts";
import {
  type DeployedWorkflow,
  DeployedWorkflowResolver,
  InMemoryWorkflowSource,
} from "../runtimes/deployed-workflows.ts";
import { HostPool, type HostPoolOptions } from "../runtimes/host-pool.ts";
import { HostRunner } from "../runtimes/host-runner.ts";
import type { Store } from "../store/store.ts";
import type { LogEntry } from "../engine/log-entry.ts";
import type { SendEventResult } from "../engine/events.ts";
import type { TaskHandler } from "../workflow/task-context.ts";
import { Worker } from "../worker/worker.ts";
import type { WorkflowFunction } from "../workflow/workflow-context.ts";
import { functionTask } from "../worker/registry.ts";

/** Options of createTestEnv. */
export interface TestEnvOptions {
  /** Workflows by name: functions or `defineWorkflow(…)` results. */
  readonly workflows?: Readonly<Record<string, WorkflowFunction | WorkflowDefinition<never, unknown>>>;
  /** Task kinds by name, as JS handlers. */
  readonly tasks?: Readonly<Record<string, TaskHandler>>;
  /** Where the clock starts (epoch ms or a Date). Default 2024-01-01T00:00:00Z. */
  readonly startAt?: number | Date;
  readonly namespace?: string;
  /** Host processes for `env.deploy(…)` code (started on first use). */
  readonly hosts?: Omit<HostPoolOptions, "size"> & { readonly size?: number };
}

/** Options when starting a run in a test env. */
export interface TestStartOptions {
  readonly version?: string;
  readonly idempotencyKey?: string;
  readonly retry?: RetryPolicyInput;
  /** Run timeout (ms or "1h"). */
  readonly timeout?: number | string;
}

/**
 * Workflows on an in-memory SQLite store and a manual clock: sleeps, retries and timeouts
 * advance instantly with `advance("1h")`, and the worker is stepped by `runUntilIdle()`.
 *
 * ```ts
 * import { createTestEnv } from "kiln-engine/testing";
 *
 * const env = await createTestEnv({
 *   workflows: {
 *     hello: async (input: { name: string }, { step, sleep }) => {
 *       const greeting = await step("greet", () => `Hello, ${input.name}!`);
 *       await sleep("wait", "1h");
 *       return await step("complete", () => ({ message: greeting }));
 *     },
 *   },
 * });
 * const run = await env.start("hello", { name: "Ada" }); // runs until it sleeps
 * assert.equal(run.status, "sleeping");
 * await env.advance("1h");                                 // wakes it and runs it
 * assert.deepEqual(await env.result(run.id), { message: "Hello, Ada!" });
 * await env.close();
 * ```
 *
 * Deployed code runs too: `await env.deploy("hello", readFileSync("workflows/hello.py", "utf8"))`.
 * Step `timeout`s are real time (they bound a running function); everything durable is virtual.
 */
export class TestEnv {
  readonly store: Store;
  readonly worker: Worker;
  readonly namespace: string;
  readonly #clock: { now: number };
  readonly #hostOptions: TestEnvOptions["hosts"];
  #deployed: { source: InMemoryWorkflowSource; resolver: DeployedWorkflowResolver; pool: HostPool } | undefined;

  constructor(store: Store, clock: { now: number }, options: Readonly<TestEnvOptions>) {
    this.store = store;
    this.#clock = clock;
    this.namespace = options.namespace ?? "default";
    this.#hostOptions = options.hosts;
    this.worker = new Worker({
      client: store,
      namespace: this.namespace,
      clock: () => this.#clock.now,
      leaseMs: 3_600_000,
      concurrency: 16,
      logger: { info: () => {}, warn: () => {}, error: () => {} },
    });
    for (const [name, fn] of Object.entries(options.workflows ?? {})) this.workflow(name, fn);
    for (const [kind, handler] of Object.entries(options.tasks ?? {})) this.task(kind, handler);
  }

  /** The current (virtual) time, epoch ms. */
  now(): number {
    return this.#clock.now;
  }

  /** Registers a workflow function (or definition) under a name. */
  workflow(
    name: string,
    fn: WorkflowFunction | WorkflowDefinition<never, unknown>,
    options: { version?: string } = {},
  ): this {
    const version = options.version ?? (isWorkflowDefinition(fn) ? fn.version : null);
    this.worker.registry.addWorkflow({
      name,
      version,
      fn: isWorkflowDefinition(fn) ? (fn.fn as WorkflowFunction) : fn,
    });
    return this;
  }

  /** Registers a JS task kind. */
  task(kind: string, handler: TaskHandler, options: { retry?: RetryPolicyInput } = {}): this {
    this.worker.registry.addTask(functionTask(kind, handler, options.retry));
    return this;
  }

  /**
   * Deploys workflow source (JS, TypeScript or Python) that runs in host processes, as
   * `kiln deploy` would; runtime from the option, else `node`. Returns the deployed version.
   */
  async deploy(
    name: string,
    source: string,
    options: { runtime?: "node" | "python"; version?: string } = {},
  ): Promise<DeployedWorkflow> {
    if (!this.#deployed) {
      const source = new InMemoryWorkflowSource();
      const pool = new HostPool({ size: 2, ...this.#hostOptions });
      const resolver = new DeployedWorkflowResolver({ source, runner: new HostRunner(pool, { manualClock: true }) });
      this.worker.registry.addResolver(resolver);
      this.#deployed = { source, resolver, pool };
    }
    const { workflow } = await this.#deployed.source.deploy({
      namespace: this.namespace,
      name,
      source,
      runtime: options.runtime ?? "node",
      ...(options.version === undefined ? {} : { version: options.version }),
    });
    this.#deployed.resolver.invalidate();
    return workflow;
  }

  /** Starts a workflow run and runs until nothing is left to do now; returns the run. */
  async start(name: string, input?: unknown, options: TestStartOptions = {}): Promise<Run> {
    return await this.#start("workflow", name, input, options);
  }

  /** Starts a task run and runs until idle; returns the run. */
  async startTask(kind: string, input?: unknown, options: TestStartOptions = {}): Promise<Run> {
    return await this.#start("task", kind, input, options);
  }

  /**
   * Starts a workflow and skips time from timer to timer until the run ends, or until it waits
   * for something no timer brings (an event). Returns the run.
   */
  async execute(
    name: string,
    input?: unknown,
    options: TestStartOptions & { maxTime?: number | string } = {},
  ): Promise<Run> {
    const run = await this.start(name, input, options);
    const limit = this.#clock.now + parseDuration(options.maxTime ?? "3650d", "maxTime");
    for (;;) {
      const current = await this.getRun(run.id);
      if (isTerminal(current.status)) return current;
      const next = await this.store.getNextWakeAt({ namespace: this.namespace });
      if (next === null || next > limit) return current;
      this.#clock.now = Math.max(this.#clock.now, next);
      await this.runUntilIdle();
    }
  }

  /** Executes everything that is due now (wake-ups, timeouts, runs, their children). */
  async runUntilIdle(): Promise<number> {
    let total = 0;
    for (let round = 0; round < 10_000; round++) {
      await this.store.sweep({});
      const n = await this.worker.drain();
      total += n;
      if (n === 0) return total;
    }
    throw new KilnError("INTERNAL", "The test env did not become idle after 10,000 rounds (a run that never parks?)");
  }

  /**
   * Moves the clock forward by `duration` ("1h", ms), firing every timer on the way in order
   * (a run woken at +5 min that sleeps 5 min more wakes again at +10 min), then runs until idle.
   */
  async advance(duration: number | string): Promise<void> {
    const target = this.#clock.now + parseDuration(duration, "advance");
    await this.runUntilIdle();
    for (;;) {
      const next = await this.store.getNextWakeAt({ namespace: this.namespace });
      if (next === null || next > target) break;
      this.#clock.now = Math.max(this.#clock.now, next);
      await this.runUntilIdle();
    }
    this.#clock.now = target;
    await this.runUntilIdle();
  }

  /** Sends an event (optionally with a correlation key) and runs until idle. */
  async sendEvent(name: string, payload?: unknown, options: { key?: string } = {}): Promise<SendEventResult> {
    const result = await this.store.sendEvent({
      namespace: this.namespace,
      name,
      payload: payload ?? null,
      ...(options.key === undefined ? {} : { key: options.key }),
    });
    await this.runUntilIdle();
    return result;
  }

  /** Cancels a run and runs until idle (compensations included). */
  async cancel(id: string): Promise<Run> {
    await this.store.cancelRun({ namespace: this.namespace, id });
    await this.runUntilIdle();
    return await this.getRun(id);
  }

  async getRun(id: string): Promise<Run> {
    const run = await this.store.getRun({ namespace: this.namespace, id });
    if (!run) throw new KilnError("RUN_NOT_FOUND", `No run ${id} in the test env`);
    return run;
  }

  /** The output of a completed run; throws the run's error otherwise. */
  async result(id: string): Promise<unknown> {
    const run = await this.getRun(id);
    if (run.status === "completed") return run.output;
    throw new KilnError(
      "INVALID_STATE_TRANSITION",
      `Run ${id} is ${run.status}${run.error ? `: ${run.error.message}` : ""}`,
      {
        data: { status: run.status, error: run.error },
      },
    );
  }

  async steps(id: string): Promise<Step[]> {
    return await this.store.listSteps({ runId: id });
  }

  async logs(id: string): Promise<LogEntry[]> {
    return await this.store.listLogs({ runId: id });
  }

  /** Runs started by a parent run (children). */
  async children(id: string): Promise<Run[]> {
    return (await this.store.listRuns({ namespace: this.namespace, parentRunId: id, limit: 1000 })).runs;
  }

  async close(): Promise<void> {
    await this.worker.stop();
    await this.#deployed?.pool.close();
    await this.store.close();
  }

  async #start(type: "task" | "workflow", name: string, input: unknown, options: TestStartOptions): Promise<Run> {
    const { timeout, ...rest } = options;
    const params = startRunParams(
      this.namespace,
      type,
      name,
      input,
      timeout === undefined ? rest : { ...rest, timeoutMs: parseDuration(timeout, "timeout") },
    );
    const { run } = await this.store.startRun(params);
    await this.runUntilIdle();
    return await this.getRun(run.id);
  }
}

/** Creates a TestEnv (see its example): an in-memory store, a manual clock and a worker. */
export async function createTestEnv(options: Readonly<TestEnvOptions> = {}): Promise<TestEnv> {
  const start = options.startAt instanceof Date ? options.startAt.getTime() : (options.startAt ?? Date.UTC(2024, 0, 1));
  const clock = { now: start };
  // Loaded on demand, so importing "kiln" (as workflow code does) does not load SQLite.
  const { SqliteStore } = await import("../store/sqlite/sqlite-store.ts");
  const store = await SqliteStore.open(":memory:", { clock: () => clock.now });
  return new TestEnv(store, clock, options);
}
