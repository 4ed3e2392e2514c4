import { describeValue, didYouMean, expectationPhrase } from "../../config/config-problems.ts";
import { checkTemplates } from "../expressions/expressions.ts";
import type { FlowNode } from "../definition/flow-definition.ts";
import { resolveInlineNode } from "./resolve-node.ts";
import { type CompensationSpec, compensationSchema } from "../definition/flow-schema.ts";
import { canonicalNodeType } from "./node-aliases.ts";
import type { NodeTypeRegistry, ParamProblem } from "./node-type.ts";
import type { CodeChecker } from "../expressions/sandbox.ts";

/**
 * Nodes written inside the params of another node: a for_each's `do` and a parallel's branches.
 * They have the shape of an inline compensation (`type`, `params`, `retry`, `timeout`) and are
 * checked like top-level nodes, with problem paths relative to the outer node's params.
 */

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** Node types that may not be nested (they schedule inline nodes themselves). */
const CONTAINERS = new Set(["for_each", "parallel"]);

/** Static problems of an inline node written at `path` (relative to the outer params). */
export function checkInlineNode(
  spec: unknown,
  path: readonly (string | number)[],
  code: CodeChecker,
  types: NodeTypeRegistry,
): ParamProblem[] {
  if (!isRecord(spec)) {
    return [{ path, message: `Expected a node: a mapping with "type" and "params", got ${describeValue(spec)}` }];
  }
  const out: ParamProblem[] = [];
  const parsed = compensationSchema.safeParse(spec, { error: expectationPhrase });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          const hint = didYouMean(key, Object.keys(compensationSchema.shape));
          out.push({ path: [...path, key], message: `Unknown key "${key}" of an inline node${hint}` });
        }
      } else {
        const at = [...path, ...(issue.path as (string | number)[])];
        const key = String(issue.path[issue.path.length - 1] ?? "node");
        out.push({ path: at, message: `Expected "${key}" to be ${issue.message}` });
      }
    }
  }
  if (typeof spec.type !== "string") return out;
  const type = canonicalNodeType(spec.type);
  const nodeType = types.get(type);
  if (nodeType === undefined) {
    const known = [...types.keys()].filter((t) => !CONTAINERS.has(t)).sort();
    out.push({
      path: [...path, "type"],
      message: `Unknown node type "${spec.type}"${didYouMean(spec.type, types.keys())}. Known types: ${known.join(", ")}`,
    });
    return out;
  }
  if (CONTAINERS.has(type)) {
    out.push({
      path: [...path, "type"],
      message: `A ${type} node cannot be nested inside another node; route to it from the graph instead`,
    });
    return out;
  }
  const params = spec.params;
  if (params === undefined || !isRecord(params)) return out;
  const paramsPath = [...path, "params"];
  for (const problem of checkTemplates(code, params, [], nodeType.rawParams ?? [])) {
    out.push({ path: [...paramsPath, ...problem.path], offset: problem.offset, message: problem.message });
  }
  for (const problem of nodeType.checkParams?.(params, code, types) ?? []) {
    out.push({ ...problem, path: [...paramsPath, ...problem.path] });
  }
  return out;
}

const resolved = new WeakMap<object, FlowNode>();

/** The resolved inline node written as `spec` (checked at validation; cached per written object). */
export function inlineNode(spec: unknown, id: string): FlowNode {
  if (!isRecord(spec)) throw new TypeError(`Inline node ${id} is not a mapping`);
  let node = resolved.get(spec);
  if (node === undefined) {
    node = resolveInlineNode(id, compensationSchema.parse(spec) as CompensationSpec);
    resolved.set(spec, node);
  }
  return node;
}
