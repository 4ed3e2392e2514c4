import { KilnError } from "../errors.ts";
import type { RetryPolicy } from "../engine/retry-policy.ts";
import type { TaskHandler } from "./task-context.ts";
import type { WorkflowFunction } from "./workflow-context.ts";

/** A workflow the worker can execute. */
export interface WorkflowRegistration {
  readonly name: string;
  /** When set, only runs pinned to this version are executed by this function. */
  readonly version: string | null;
  readonly fn: WorkflowFunction;
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

/** The workflows and task kinds one worker can execute, by name. */
export class Registry {
  readonly #workflows = new Map<string, WorkflowRegistration[]>();
  readonly #tasks = new Map<string, TaskRegistration>();

  /** Registers a workflow function (optionally for one version). */
  addWorkflow(registration: WorkflowRegistration): void {
    const list = this.#workflows.get(registration.name) ?? [];
    const rest = list.filter((r) => r.version !== registration.version);
    this.#workflows.set(registration.name, [...rest, registration]);
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
    if (!found) {
      throw new KilnError(
        "WORKFLOW_NOT_FOUND",
        `No workflow "${name}"${version ? ` version ${version}` : ""} is registered on this worker`,
      );
    }
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
