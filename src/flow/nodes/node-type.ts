import { KilnError } from "../../errors.ts";
import { NODE_TYPE_ALIASES } from "./node-aliases.ts";
import { NODE_LIBRARY } from "./library.ts";
import type { ParamRules } from "./param-rules.ts";
import type { CodeChecker } from "../expressions/sandbox.ts";

/** A problem in a node's params, found before the flow runs. */
export interface ParamProblem {
  /** Path inside the node's params. */
  readonly path: readonly (string | number)[];
  /** Offset inside the string at `path`, when the problem is inside one. */
  readonly offset?: number;
  readonly message: string;
}

/**
 * What validation and interpolation need to know of a node type (built-in or plugin): the static
 * side. Runnable node types (src/flow/nodes/node-api.ts) add `kind` and `run`.
 */
export interface NodeTypeSpec {
  readonly type: string;
  readonly description?: string;
  /** The declared params (the rules `checkParams` applies), listed by `kiln nodes` and the docs. */
  readonly params?: ParamRules;
  /**
   * Top-level params left exactly as written by `${…}` interpolation: code (a transform's
   * `script`, a condition's `conditions`) and shell text, which must never have data spliced in.
   */
  readonly rawParams?: readonly string[];
  /**
   * Static checks of the params as written (expressions compiled with `code`, never run); `types`
   * is the registry, for node types that hold other nodes (for_each, parallel).
   */
  readonly checkParams?: (
    params: Readonly<Record<string, unknown>>,
    code: CodeChecker,
    types: NodeTypeRegistry,
  ) => readonly ParamProblem[];
}

/** Node types by name. */
export type NodeTypeRegistry = ReadonlyMap<string, NodeTypeSpec>;

export { canonicalNodeType, NODE_TYPE_ALIASES } from "./node-aliases.ts";

/** The node types Kiln ships (docs/flows.md): the node library. */
export const BUILTIN_NODE_TYPES: readonly NodeTypeSpec[] = NODE_LIBRARY;

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
