import type { WorkflowContext } from "./workflow-context.ts";

/** What `defineWorkflow` returns: a workflow function with its name and version. */
export interface WorkflowDefinition<I = unknown, O = unknown> {
  readonly kind: "kiln.workflow";
  readonly name: string | null;
  readonly version: string | null;
  readonly fn: (input: I, ctx: WorkflowContext) => O | Promise<O>;
}

/** Options of `defineWorkflow`. */
export interface DefineWorkflowOptions {
  readonly name?: string;
  readonly version?: string | number;
}

/**
 * Declares a workflow with its name and version, for deployed code and for registration:
 * `export default defineWorkflow({ name: "order", version: "2" }, async (input, ctx) => …)`.
 */
export function defineWorkflow<I = unknown, O = unknown>(
  options: DefineWorkflowOptions,
  fn: (input: I, ctx: WorkflowContext) => O | Promise<O>,
): WorkflowDefinition<I, O> {
  if (typeof fn !== "function") {
    throw new TypeError(`defineWorkflow expects a function as its second argument, got ${typeof fn}`);
  }
  const definition: WorkflowDefinition<I, O> = Object.freeze({
    kind: "kiln.workflow",
    name: options.name ?? null,
    version: options.version === undefined ? null : String(options.version),
    fn,
  });
  lastDefinition = definition as WorkflowDefinition;
  return definition;
}

let lastDefinition: WorkflowDefinition | undefined;

/** Whether a value is a `defineWorkflow` result (also across module copies, by shape). */
export function isWorkflowDefinition(value: unknown): value is WorkflowDefinition<never, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { kind?: unknown }).kind === "kiln.workflow" &&
    typeof (value as { fn?: unknown }).fn === "function"
  );
}

/** The latest definition made in this process, and forgets it (scripts that do not export it). */
export function takeLastDefinition(): WorkflowDefinition | undefined {
  const found = lastDefinition;
  lastDefinition = undefined;
  return found;
}
