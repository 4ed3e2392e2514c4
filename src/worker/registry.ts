import { KilnError } from "../errors.ts";
import { type RetryPolicyInput, resolveRetryPolicy } from "../engine/retry-policy.ts";
import type { Run } from "../engine/run.ts";
import type { TaskHandler, TaskKinds, TaskRegistration } from "../workflow/task-context.ts";
import { WorkflowActivation } from "../workflow/workflow-activation.ts";
import type { WorkflowFunction } from "../workflow/workflow-context.ts";
import type { ActivateWorkflow, WorkflowResolver, WorkflowResolvers } from "../workflow/workflow-resolver.ts";

/** A workflow the worker can execute. */
export interface WorkflowRegistration {
  readonly name: string;
  /** When set, only runs pinned to this version are executed by this function. */
  readonly version: string | null;
  readonly fn: WorkflowFunction;
  /**
   * Opt-in: a completed step's record is not awaited; the step's records are confirmed together
   * before the run's next durable boundary (finish, park, child, event wait). Fewer commits per
   * run; a crash before that boundary re-executes those steps (see ActivationOptions.deferStepRecords).
   */
  readonly deferStepRecords?: boolean;
}

/** A registration for a JS function as a task kind (retry policy resolved from user input). */
export function functionTask(kind: string, handler: TaskHandler, retry?: RetryPolicyInput): TaskRegistration {
  return { kind, handler, retryPolicy: retry ? resolveRetryPolicy(retry) : null, settings: {} };
}

/** The workflows and task kinds one worker can execute, by name. */
export class Registry implements WorkflowResolvers, TaskKinds {
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
