import type { z } from "zod";
import {
  type ConfigProblem,
  didYouMean,
  expectationPhrase,
  formatKeyPath,
  type KeyPath,
  problemsFromIssues,
} from "../../config/config-problems.ts";
import { KilnError } from "../../errors.ts";
import { checkPredicate } from "../nodes/condition.ts";
import { checkTemplates } from "../expressions/expressions.ts";
import { checkInputSchema } from "../run/flow-input.ts";
import {
  compensationSchema,
  type FlowHeader,
  flowFileSchema,
  flowHeaderSchema,
  metadataSchema,
  NODE_ID_PATTERN,
  nodeSchema,
  retrySchema,
  stepSchema,
} from "./flow-schema.ts";
import { parseFlowYaml } from "./flow-yaml.ts";
import { checkGraph, type Report } from "./graph-checks.ts";
import { type NodeEntry, nodesMapEntries, stepsListEntries } from "./node-entries.ts";
import { canonicalNodeType } from "../nodes/node-aliases.ts";
import { type NodeTypeRegistry, type NodeTypeSpec, nodeTypeRegistry } from "../nodes/node-type.ts";
import type { CodeChecker } from "../expressions/sandbox.ts";

/** Options of validating a flow file. */
export interface ValidateFlowOptions {
  /** The file name used in messages (default `flow.yaml`). */
  readonly file?: string;
  /** Known node types, plugins included (default: the built-ins). */
  readonly nodeTypes?: NodeTypeRegistry;
  /** Compiles expressions and scripts without running them: a Sandbox. */
  readonly code: CodeChecker;
}

/** A flow file read and checked: every problem, and the parts flow-load needs to resolve it. */
export interface FlowAnalysis {
  readonly file: string;
  /** Every problem, ordered by position. Empty when the flow is valid. */
  readonly problems: readonly ConfigProblem[];
  readonly header: FlowHeader | undefined;
  readonly entries: readonly NodeEntry[];
  readonly startNodeIds: readonly string[];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** Known keys at a path, for "did you mean" on unknown keys. */
function knownKeysAt(path: KeyPath): readonly string[] {
  const last = path[path.length - 1];
  if (path.length === 0) return Object.keys(flowFileSchema.shape);
  if (path.length === 1 && last === "metadata") return Object.keys(metadataSchema.shape);
  if (path.length === 2 && path[0] === "nodes") return Object.keys(nodeSchema.shape);
  if (path.length === 2 && path[0] === "steps") return Object.keys(stepSchema.shape);
  if (last === "retry") return Object.keys(retrySchema.shape);
  if (last === "compensate") return Object.keys(compensationSchema.shape);
  return [];
}

/**
 * Reads a flow file and reports every problem at once, each with file:line:column: YAML syntax,
 * schema violations, unknown node types, routes and needs naming missing nodes, routes into joins,
 * no start node, unreachable nodes, and expressions or scripts that do not compile.
 */
export function analyzeFlow(text: string, options: ValidateFlowOptions): FlowAnalysis {
  const file = options.file ?? "flow.yaml";
  const yaml = parseFlowYaml(text, file);
  const empty = { file, header: undefined, entries: [], startNodeIds: [] };
  if (yaml.problems.length > 0) return { ...empty, problems: yaml.problems };
  const problems: ConfigProblem[] = [];
  const report: Report = (path, target, message) =>
    problems.push({ file, ...yaml.locate(path, target), path: formatKeyPath(path), message });
  const reportIn = (path: KeyPath, offset: number, message: string) =>
    problems.push({ file, ...yaml.locateInString(path, offset), path: formatKeyPath(path), message });
  const schemaProblems = (issues: readonly z.core.$ZodIssue[], base: KeyPath) => {
    const located = issues.map((issue) => ({ ...issue, path: [...base, ...issue.path] }));
    // Custom issues (flow-schema.ts refinements) carry whole messages, not expectation phrases.
    for (const issue of located) if (issue.code === "custom") report(issue.path as KeyPath, "key", issue.message);
    const typed = located.filter((issue) => issue.code !== "custom") as z.core.$ZodIssue[];
    problems.push(...problemsFromIssues(typed, { file, data: yaml.data, locate: yaml.locate, knownKeys: knownKeysAt }));
  };
  const finish = (rest: Omit<FlowAnalysis, "file" | "problems">): FlowAnalysis => ({
    file,
    problems: problems.sort((a, b) => a.line - b.line || a.column - b.column),
    ...rest,
  });

  const data = yaml.data;
  if (!isRecord(data)) {
    report([], "value", 'A flow file is a mapping with "metadata" and "nodes" (or "steps")');
    return finish(empty);
  }
  const { nodes, steps, ...headerFields } = data;
  const parsedHeader = flowHeaderSchema.safeParse(headerFields, { error: expectationPhrase });
  if (!parsedHeader.success) schemaProblems(parsedHeader.error.issues, []);

  const listPath: KeyPath = nodes === undefined && steps !== undefined ? ["steps"] : ["nodes"];
  const entries = readEntries(nodes, steps, report);
  const types = options.nodeTypes ?? nodeTypeRegistry();
  const typeOf = (id: string) => entries.find((entry) => entry.id === id)?.graph.type;
  for (const entry of entries) {
    schemaProblems(entry.issues, entry.path);
    checkNodeBody(entry, typeOf, types, options.code, report, reportIn);
  }
  if (isRecord(headerFields.params)) {
    const problem = checkInputSchema(headerFields.params);
    if (problem !== undefined) report(["params"], "key", problem);
  }
  const startNodeIds = checkGraph(entries, listPath, report);
  return finish({ header: parsedHeader.success ? parsedHeader.data : undefined, entries, startNodeIds });
}

/** The node entries of `nodes:` or `steps:`, with id problems reported. */
function readEntries(nodes: unknown, steps: unknown, report: Report): NodeEntry[] {
  if (nodes !== undefined && steps !== undefined) {
    report(["steps"], "key", 'A flow has either "nodes" or "steps", not both');
  }
  if (nodes !== undefined) {
    if (!isRecord(nodes)) {
      report(["nodes"], "value", 'Expected "nodes" to be a mapping of node id to node');
      return [];
    }
    if (Object.keys(nodes).length === 0) report(["nodes"], "key", 'Expected "nodes" to hold at least one node');
    const entries = nodesMapEntries(nodes);
    for (const entry of entries) {
      if (!NODE_ID_PATTERN.test(entry.id)) {
        report(
          entry.path,
          "key",
          `Expected node id "${entry.id}" to use letters, digits, "_" and "-", not starting with a digit`,
        );
      }
    }
    return entries;
  }
  if (steps === undefined) {
    report([], "value", 'A flow needs "nodes" (a mapping of node id to node) or "steps" (a list of steps)');
    return [];
  }
  if (!Array.isArray(steps) || steps.length === 0) {
    report(["steps"], "value", 'Expected "steps" to be a non-empty list of steps');
    return [];
  }
  const entries = stepsListEntries(steps);
  const seen = new Map<string, number>();
  entries.forEach((entry, index) => {
    const first = seen.get(entry.id);
    if (first === undefined) seen.set(entry.id, index);
    else {
      const key = isRecord(steps[index]) && steps[index].id !== undefined ? "id" : "name";
      report(
        ["steps", index, key],
        "value",
        `Step id "${entry.id}" is already used by step ${first + 1}; give each step a unique id`,
      );
    }
  });
  return entries;
}

/** Checks a node's type, params (templates and type-specific checks), `when`, and an inline compensation. */
function checkNodeBody(
  entry: NodeEntry,
  typeOf: (id: string) => unknown,
  types: NodeTypeRegistry,
  code: CodeChecker,
  report: Report,
  reportIn: (path: KeyPath, offset: number, message: string) => void,
): void {
  const check = (type: unknown, params: unknown, typePath: KeyPath, paramPath: (relative: KeyPath) => KeyPath) => {
    if (typeof type !== "string") return;
    const spec = types.get(canonicalNodeType(type));
    if (spec === undefined) {
      const known = [...types.keys()].sort().join(", ");
      report(typePath, "value", `Unknown node type "${type}"${didYouMean(type, types.keys())}. Known types: ${known}`);
    }
    if (params !== undefined && !isRecord(params)) return;
    for (const problem of checkTemplates(code, params ?? {}, [], spec?.rawParams ?? [])) {
      reportIn(paramPath(problem.path), problem.offset, problem.message);
    }
    for (const problem of spec?.checkParams?.(params ?? {}, code, types) ?? []) {
      const path = paramPath(problem.path);
      if (problem.offset === undefined) report(path, "value", problem.message);
      else reportIn(path, problem.offset, problem.message);
    }
  };

  check(entry.graph.type, entry.graph.params, [...entry.path, entry.keyOf("type")], entry.paramPath);
  if (entry.graph.when !== undefined) {
    const whenPath = [...entry.path, entry.keyOf("when")];
    for (const problem of checkPredicate(code, entry.graph.when)) reportIn(whenPath, problem.offset, problem.message);
  }
  const compensate = entry.graph.compensate;
  if (isRecord(compensate)) {
    const base = [...entry.path, "compensate"];
    check(compensate.type, compensate.params, [...base, "type"], (relative) => [...base, "params", ...relative]);
  }
  // A compensation runs while the run is being undone, outside the graph: only a node that does its
  // work in one step (http.request, script, transform, a plugin, …) can run there.
  const compensationType = isRecord(compensate)
    ? compensate.type
    : typeof compensate === "string"
      ? typeOf(compensate)
      : undefined;
  if (typeof compensationType === "string") {
    const spec = types.get(canonicalNodeType(compensationType)) as (NodeTypeSpec & { kind?: string }) | undefined;
    if (spec?.kind === "durable") {
      report(
        [...entry.path, "compensate", ...(isRecord(compensate) ? ["type"] : [])],
        "value",
        `A compensation cannot be a ${compensationType} node (it waits or starts runs); use a node that does its work in one step, such as script, http.request or transform`,
      );
    }
  }
}

/** Every problem of a flow file (empty when it is valid); what `kiln validate` prints. */
export function validateFlow(text: string, options: ValidateFlowOptions): readonly ConfigProblem[] {
  return analyzeFlow(text, options).problems;
}

/** The one error for an invalid flow: every problem on its own line, and in `data.errors`. */
export function invalidFlowError(file: string, problems: readonly ConfigProblem[]): KilnError {
  const lines = problems.map((p) => `  ${p.file}:${p.line}:${p.column}${p.path ? ` ${p.path}` : ""}: ${p.message}`);
  const count = problems.length === 1 ? "1 error" : `${problems.length} errors`;
  return new KilnError("INVALID_CONFIG", `Invalid flow ${file} (${count}):\n${lines.join("\n")}`, {
    data: { file, errors: problems },
  });
}
