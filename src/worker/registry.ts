import { KilnError } from "../errors.ts";
import { type RetryPolicy, type RetryPolicyInput, resolveRetryPolicy } from "../engine/retry-policy.ts";
import type { Run } from "../engine/run.ts";
import type { ClaimedRun } from "../store/store.ts";
import type { TaskHandler } from "./task-context.ts";
import { type ActivationDeps, type ActivationOutcome, WorkflowActivation } from "./workflow-activation.ts";
import type { WorkflowFunction } from "./workflow-context.ts";

/** Runs one activation of a workflow run: in-process replay, or a host process for deployed code. */
export type ActivateWorkflow = (claimed: ClaimedRun, deps: ActivationDeps) => Promise<ActivationOutcome>;

/**
 * Workflows not registered in-process that this worker can still execute, such as deployed
 * JS/TS/Python code run in host processes (src/runtimes). Consulted after the registrations.
 */
export interface WorkflowResolver {
  /** Names of the workflows this resolver executes in a namespace (claims include them; cache it). */
  listNames(p: Readonly<{ namespace: string }>): Promise<readonly string[]>;
  /** How to execute this run, or undefined when the resolver has no code for it. */
  resolve(run: Run): Promise<ActivateWorkflow | undefined>;
}

/** A workflow the worker can execute. */
export interface WorkflowRegistration {
  readonly name: string;
  /** When set, only runs pinned to this version are executed by this function. */
  readonly version: string | null;
  readonly fn: WorkflowFunction;
  /**
   * Opt-in: a completed step's record is not awaited; the step's records are confirmed together
   * before the run's next durable boundary (finish, park, child, event wait). Fewer commits per
   * run; a crash before that boundary re-executes those steps (see ActivationDeps.deferStepRecords).
   */
  readonly deferStepRecords?: boolean;
}

/** A task kind the worker can execute, with its defaults. */
export interface TaskRegistration {
  readonly kind: string;
  readonly handler: TaskHandler;
  /** Retry policy used for runs started without one. */
  readonly retryPolicy: RetryPolicy | null;
  /** Settings reported to the server when the worker registers (config of script kinds). */
  readonly settings: Readonly<Record<string, unknown>>;
}

/** A registration for a JS function as a task kind (retry policy resolved from user input). */
export function functionTask(kind: string, handler: TaskHandler, retry?: RetryPolicyInput): TaskRegistration {
  return { kind, handler, retryPolicy: retry ? resolveRetryPolicy(retry) : null, settings: {} };
}

/** The workflows and task kinds one worker can execute, by name. */
export class Registry {
  readonly #workflows = new Map<string, WorkflowRegistration[]>();
  readonly #tasks = new Map<string, TaskRegistration>();
  readonly #resolvers: WorkflowResolver[] = [];

  /** Registers a workflow function (optionally for one version). */
  addWorkflow(registration: WorkflowRegistration): void {
    const list = this.#workflows.get(registration.name) ?? [];
    const rest = list.filter((r) => r.version !== registration.version);
    this.#workflows.set(registration.name, [...rest, registration]);
  }

  /** Adds a source of workflows that are not registered in-process (deployed code). */
  addResolver(resolver: WorkflowResolver): void {
    this.#resolvers.push(resolver);
  }

  /**
   * How to execute a workflow run: its registered function (exact version, else unversioned),
   * else the first resolver that has code for it; WORKFLOW_NOT_FOUND otherwise.
   */
  async resolveWorkflow(run: Run): Promise<ActivateWorkflow> {
    const list = this.#workflows.get(run.name) ?? [];
    const found = list.find((r) => r.version === run.version) ?? list.find((r) => r.version === null);
    if (found) {
      const options = { deferStepRecords: found.deferStepRecords === true };
      return (claimed, deps) => new WorkflowActivation(found.fn, claimed, deps, options).run();
    }
    for (const resolver of this.#resolvers) {
      const activate = await resolver.resolve(run);
      if (activate) return activate;
    }
    throw workflowNotFound(run.name, run.version);
  }

  /** Every name this worker can claim runs for in a namespace, resolvers' workflows included. */
  async claimNames(namespace: string): Promise<string[]> {
    if (this.#resolvers.length === 0) return this.names();
    const lists = await Promise.all(this.#resolvers.map((r) => r.listNames({ namespace })));
    return [...new Set([...this.names(), ...lists.flat()])];
  }

  /** Registers a task kind; registering the same kind again replaces it. */
  addTask(registration: TaskRegistration): void {
    this.#tasks.set(registration.kind, registration);
  }

  /** Removes a task kind (config reload). */
  removeTask(kind: string): void {
    this.#tasks.delete(kind);
  }

  /** The function for a workflow run: the exact version if registered, else the unversioned one. */
  findWorkflow(name: string, version: string | null): WorkflowRegistration {
    const list = this.#workflows.get(name) ?? [];
    const found = list.find((r) => r.version === version) ?? list.find((r) => r.version === null);
    if (!found) throw workflowNotFound(name, version);
    return found;
  }

  findTask(kind: string): TaskRegistration {
    const found = this.#tasks.get(kind);
    if (!found) throw new KilnError("TASK_KIND_NOT_FOUND", `No task kind "${kind}" is registered on this worker`);
    return found;
  }

  /** Every name this worker can claim runs for. */
  names(): string[] {
    return [...new Set([...this.#workflows.keys(), ...this.#tasks.keys()])];
  }

  tasks(): TaskRegistration[] {
    return [...this.#tasks.values()];
  }

  workflows(): WorkflowRegistration[] {
    return [...this.#workflows.values()].flat();
  }
}

function workflowNotFound(name: string, version: string | null): KilnError {
  return new KilnError(
    "WORKFLOW_NOT_FOUND",
    `No workflow "${name}"${version ? ` version ${version}` : ""} is registered on this worker`,
  );
}
