import { KilnError } from "../errors.ts";
import { checkConditionParams } from "./condition-node.ts";
import type { CodeChecker } from "./sandbox.ts";
import { checkTransformParams } from "./transform-node.ts";

/** A problem in a node's params, found before the flow runs. */
export interface ParamProblem {
  /** Path inside the node's params. */
  readonly path: readonly (string | number)[];
  /** Offset inside the string at `path`, when the problem is inside one. */
  readonly offset?: number;
  readonly message: string;
}

/**
 * What validation and interpolation need to know of a node type (built-in or plugin). The
 * interpreter's executors live with the worker; this is the static side.
 */
export interface NodeTypeSpec {
  readonly type: string;
  readonly description?: string;
  /**
   * Top-level params left exactly as written by `${…}` interpolation: code (a transform's
   * `script`, a condition's `conditions`) and shell text, which must never have data spliced in.
   */
  readonly rawParams?: readonly string[];
  /** Static checks of the params as written (expressions compiled with `code`, never run). */
  readonly checkParams?: (params: Readonly<Record<string, unknown>>, code: CodeChecker) => readonly ParamProblem[];
}

/** Node types by name. */
export type NodeTypeRegistry = ReadonlyMap<string, NodeTypeSpec>;

/** Alternative spellings of node types, resolved when a flow is loaded. */
export const NODE_TYPE_ALIASES: Readonly<Record<string, string>> = Object.freeze({ run: "script" });

/** The node types Kiln ships (DESIGN.md §6). */
export const BUILTIN_NODE_TYPES: readonly NodeTypeSpec[] = Object.freeze([
  { type: "script", description: "Inline shell (`run:`) with the task-kind contract", rawParams: ["run"] },
  { type: "task", description: "A configured task kind as a child run" },
  { type: "http.request", description: "An HTTP call; output { status, headers, body }" },
  {
    type: "transform",
    description: "A JavaScript function body; its return value is the output",
    rawParams: ["script"],
    checkParams: checkTransformParams,
  },
  {
    type: "condition",
    description: "Routes by the action of the first condition that holds",
    rawParams: ["conditions"],
    checkParams: checkConditionParams,
  },
  { type: "sleep", description: "A durable sleep" },
  { type: "wait_for_event", description: "Waits durably for an event" },
  { type: "workflow", description: "A child workflow run" },
  { type: "for_each", description: "Runs a node over each item of a list" },
  { type: "parallel", description: "Runs branches in parallel" },
  { type: "email.send", description: "Sends an email" },
  { type: "llm", description: "Calls a language model" },
]);

/** A registry of the built-in node types plus plugins; a plugin may not redefine a type. */
export function nodeTypeRegistry(plugins: readonly NodeTypeSpec[] = []): NodeTypeRegistry {
  const registry = new Map<string, NodeTypeSpec>();
  for (const spec of [...BUILTIN_NODE_TYPES, ...plugins]) {
    if (registry.has(spec.type) || Object.hasOwn(NODE_TYPE_ALIASES, spec.type)) {
      // Silently replacing a built-in would change what existing flows do.
      throw new KilnError("INVALID_CONFIG", `Node type "${spec.type}" is defined twice; rename the plugin's type`);
    }
    registry.set(spec.type, spec);
  }
  return registry;
}

/** The canonical name of a node type (aliases resolved). */
export function canonicalNodeType(type: string): string {
  return Object.hasOwn(NODE_TYPE_ALIASES, type) ? (NODE_TYPE_ALIASES[type] as string) : type;
}
