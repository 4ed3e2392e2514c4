import { KilnError } from "./errors.ts";
import type { Run } from "./engine/run.ts";
import type { RetryPolicyInput } from "./engine/retry-policy.ts";
import { type StartOptions, startRunParams } from "./engine/start-options.ts";
import { openStore } from "./store/open-store.ts";
import { RunWaiter } from "./store/run-waiter.ts";
import type { Store, StoreOptions } from "./store/store.ts";
import type { SendEventParams, SendEventResult } from "./engine/events.ts";
import { inProcessEngineClient } from "./worker/engine-client.ts";
import { functionTask } from "./worker/registry.ts";
import type { TaskHandler } from "./workflow/task-context.ts";
import { Worker, type WorkerOptions } from "./worker/worker.ts";
import type { WorkflowFunction } from "./workflow/workflow-context.ts";

/** Options of Kiln.open. */
export interface KilnOptions extends StoreOptions {
  /** A SQLite path, `:memory:`, or a `postgres://` URL. Default `.kiln/kiln.db`. */
  readonly db?: string;
  /** Use this store instead of opening one (it is not closed by close()). */
  readonly store?: Store;
  readonly namespace?: string;
  /** Worker options; `sweep: false` leaves housekeeping to another process (default: this worker sweeps). */
  readonly worker?: Omit<WorkerOptions, "client" | "namespace" | "clock" | "housekeeper"> & {
    readonly sweep?: boolean;
  };
}

/**
 * Kiln embedded in a Node process: a store, a worker, and the client verbs. The shape most
 * programs need: register workflows and tasks, start(), start runs, wait for them, close().
 */
export class Kiln {
  readonly store: Store;
  readonly worker: Worker;
  readonly namespace: string;
  readonly #ownsStore: boolean;
  readonly #waiter: RunWaiter;

  private constructor(store: Store, ownsStore: boolean, options: KilnOptions) {
    this.store = store;
    this.#ownsStore = ownsStore;
    this.#waiter = new RunWaiter(store);
    this.namespace = options.namespace ?? "default";
    const { sweep, ...workerOptions } = options.worker ?? {};
    this.worker = new Worker({
      ...workerOptions,
      client: inProcessEngineClient(store),
      ...(sweep === false ? {} : { housekeeper: store }),
      namespace: this.namespace,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
  }

  /** Opens the store (migrating it) and prepares a worker; call start() to execute runs. */
  static async open(options: KilnOptions = {}): Promise<Kiln> {
    if (options.store) return new Kiln(options.store, false, options);
    const store = await openStore(options.db ?? ".kiln/kiln.db", options);
    return new Kiln(store, true, options);
  }

  /** Registers a workflow function under a name. */
  workflow(name: string, fn: WorkflowFunction, options: { version?: string; deferStepRecords?: boolean } = {}): this {
    this.worker.registry.addWorkflow({
      name,
      version: options.version ?? null,
      fn,
      ...(options.deferStepRecords ? { deferStepRecords: true } : {}),
    });
    return this;
  }

  /** Registers a JS function as a task kind. */
  task(kind: string, handler: TaskHandler, options: { retry?: RetryPolicyInput } = {}): this {
    this.worker.registry.addTask(functionTask(kind, handler, options.retry));
    return this;
  }

  /** Starts the worker loop. */
  async start(): Promise<void> {
    await this.worker.start();
  }

  /** Starts a workflow run; returns it at once (status queued). */
  async startWorkflow(name: string, input?: unknown, options: StartOptions = {}): Promise<Run> {
    return await this.#start("workflow", name, input, options);
  }

  /** Starts a task run; returns it at once (status queued). */
  async startTask(kind: string, input?: unknown, options: StartOptions = {}): Promise<Run> {
    return await this.#start("task", kind, input, options);
  }

  async #start(type: "task" | "workflow", name: string, input: unknown, options: StartOptions): Promise<Run> {
    const params = startRunParams(this.namespace, type, name, input, options);
    return (await this.store.startRun(params)).run;
  }

  async getRun(id: string): Promise<Run> {
    const run = await this.store.getRun({ namespace: this.namespace, id });
    if (!run) throw new KilnError("RUN_NOT_FOUND", `No run ${id} in namespace ${this.namespace}`);
    return run;
  }

  /**
   * Resolves with the run once it is terminal, pushed at its terminal commit (in-process, or from
   * another process through PostgreSQL NOTIFY; SQLite reads the run's row, at most every 50 ms,
   * for runs ended elsewhere). Rejects with RUN_TIMEOUT after `timeoutMs` (default 60 s).
   */
  async waitForRun(id: string, options: { timeoutMs?: number } = {}): Promise<Run> {
    return await this.#waiter.waitForRun({
      namespace: this.namespace,
      id,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  }

  async sendEvent(
    name: string,
    payload?: unknown,
    options: Omit<SendEventParams, "namespace" | "name" | "payload"> = {},
  ): Promise<SendEventResult> {
    return await this.store.sendEvent({ namespace: this.namespace, name, payload: payload ?? null, ...options });
  }

  async cancelRun(id: string, reason?: string): Promise<Run> {
    return await this.store.cancelRun({ namespace: this.namespace, id, ...(reason === undefined ? {} : { reason }) });
  }

  /** Stops the worker (graceful) and closes the store if Kiln opened it. */
  async close(): Promise<void> {
    await this.#waiter.close();
    await this.worker.stop();
    if (this.#ownsStore) await this.store.close();
  }
}
