import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { ConfigProblem } from "../../config/config-problems.ts";
import type { ResolvedPlugin } from "../../config/resolved-config.ts";
import type { WorkflowFunction } from "../../worker/workflow-context.ts";
import type { FlowDefinition } from "../definition/flow-definition.ts";
import type { FlowDeps } from "./flow-deps.ts";
import { createFlowWorkflow } from "./flow-interpreter.ts";
import { loadFlow } from "../definition/flow-load.ts";
import { type NodeTypeRegistry, nodeTypeRegistry } from "../nodes/node-type.ts";
import { loadPlugins } from "../nodes/plugins.ts";
import { Sandbox } from "../expressions/sandbox.ts";
import { validateFlow } from "../definition/validate-flow.ts";

/**
 * The `flow` runtime of deployed workflows: what the worker uses to run a workflow deployed from
 * a YAML file (`kiln deploy NAME -f flow.yaml`), and what `kiln validate` uses to check one.
 */

interface Compiled {
  readonly flow: FlowDefinition;
  readonly fn: WorkflowFunction;
}

const compiledByDeps = new WeakMap<FlowDeps, Map<string, Compiled>>();
const MAX_COMPILED = 500;

/** The content hash a compiled flow is cached by: the name it is deployed as, and its source. */
export function flowSourceHash(source: string, name: string): string {
  return createHash("sha256").update(name).update("\0").update(source).digest("hex");
}

/** Loads (validates) a flow's source and compiles it, cached by content hash per deps. */
export function compileFlow(source: string, name: string, deps: FlowDeps): Compiled {
  let cache = compiledByDeps.get(deps);
  if (cache === undefined) {
    cache = new Map();
    compiledByDeps.set(deps, cache);
  }
  const key = flowSourceHash(source, name);
  let compiled = cache.get(key);
  if (compiled === undefined) {
    const loaded = loadFlow(source, { code: deps.sandbox, nodeTypes: deps.nodeTypes, name, file: `${name}.yaml` });
    // A deployed flow is the workflow it was deployed as: its errors (bad input, max_visits) and
    // `flow.name` say that name, which the user typed, not the file's `metadata.name`.
    const flow = loaded.name === name ? loaded : Object.freeze({ ...loaded, name });
    compiled = { flow, fn: createFlowWorkflow(flow, deps) };
    if (cache.size >= MAX_COMPILED) cache.delete(cache.keys().next().value as string);
    cache.set(key, compiled);
  } else {
    // Most recently used last, so the oldest is evicted first.
    cache.delete(key);
    cache.set(key, compiled);
  }
  return compiled;
}

/**
 * The workflow function of a deployed flow's source (`name` is the deployed name, used when the
 * file has no `metadata.name`). Cached by content hash: every run of a version shares one
 * compiled function. Throws INVALID_CONFIG (with `data.errors`) for an invalid flow.
 */
export function compileFlowSource(source: string, name: string, deps: FlowDeps): WorkflowFunction {
  return compileFlow(source, name, deps).fn;
}

/** The flow runtime for the worker's resolver of deployed workflows. */
export interface FlowRuntime {
  readonly runtime: "flow";
  /** File extensions `kiln deploy` maps to this runtime. */
  readonly extensions: readonly string[];
  compile(source: string, name: string): WorkflowFunction;
  /** Every problem of a flow's source, located (file:line:column), for deploy and validate. */
  validate(source: string, file: string): readonly ConfigProblem[];
}

/** The flow runtime over one worker's FlowDeps. */
export function flowRuntime(deps: FlowDeps): FlowRuntime {
  return Object.freeze({
    runtime: "flow" as const,
    extensions: Object.freeze([".yaml", ".yml"]),
    compile: (source: string, name: string) => compileFlowSource(source, name, deps),
    validate: (source: string, file: string) =>
      validateFlow(source, { code: deps.sandbox, nodeTypes: deps.nodeTypes, file }),
  });
}

/** Options of validateFlowFile. */
export interface ValidateFlowFileOptions {
  /** Where package-name plugins resolve from (default: the process's cwd). */
  readonly baseDir?: string;
  /** The file name in problems (default: the path). */
  readonly file?: string;
}

/**
 * `kiln validate` for a flow file: every problem at once, each with file, line, column, key path
 * and message (an unreadable file is one problem). Plugins are loaded so their node types and
 * param schemas are checked; give the config's `plugins` (or a registry already built).
 */
export async function validateFlowFile(
  path: string,
  plugins: readonly ResolvedPlugin[] | NodeTypeRegistry = [],
  options: ValidateFlowFileOptions = {},
): Promise<readonly ConfigProblem[]> {
  const file = options.file ?? path;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    return [{ file, line: 1, column: 1, path: "", message: `Cannot read the flow file: ${(error as Error).message}` }];
  }
  const nodeTypes = Array.isArray(plugins)
    ? nodeTypeRegistry(await loadPlugins(plugins, options.baseDir === undefined ? {} : { baseDir: options.baseDir }))
    : (plugins as NodeTypeRegistry);
  const sandbox = await Sandbox.create();
  try {
    return validateFlow(text, { code: sandbox, nodeTypes, file });
  } finally {
    sandbox.dispose();
  }
}
