import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { z } from "zod";
import { describeValue, expectationPhrase, issuePhrase, valueAt } from "../../config/config-problems.ts";
import type { ResolvedPlugin } from "../../config/resolved-config.ts";
import { KilnError } from "../../errors.ts";
import { checkValue, invalidValueError, type JsonSchema, zodFromJsonSchema } from "../run/flow-input.ts";
import type { ParamProblem } from "./node-type.ts";
import type { NodeContext, NodeParams, StepNodeType } from "./node-api.ts";
import { isTemplated } from "./param-rules.ts";

/**
 * Custom node types (docs/flows.md "Plugins"): a JS module exporting `{ type, schema, run }`,
 * listed under `plugins:` in the config. The schema (JSON Schema or zod) is checked at validate
 * time on the params as written (a `${…}` value may become anything, so it is checked when the
 * node runs) and again on the interpolated params before `run` is called. A plugin node is a step
 * node: `run(params, ctx)` runs once per successful visit, its return value is the output, and the
 * node's retry, timeout, compensation and error route apply as to any built-in.
 */

/** What a plugin module exports (one, a list, or a factory of them taking the plugin's options). */
export interface FlowPlugin {
  /** The node type: letters, digits, `_`, `-`, and `.` (`acme.ticket`). Must not redefine a built-in. */
  readonly type: string;
  readonly description?: string;
  /** The params' JSON Schema, or a zod schema. */
  readonly schema?: JsonSchema | z.ZodType;
  /** Params left as written by `${…}` interpolation (code or templates the plugin evaluates itself). */
  readonly rawParams?: readonly string[];
  /** Does the work; the return value (JSON) is the output. `ctx.setAction` routes by action. */
  run(params: NodeParams, ctx: NodeContext): unknown;
}

/** A plugin's node type as the registry holds it. */
export interface PluginNodeType extends StepNodeType {
  /** The plugin's name in the config (or the type when defined in code). */
  readonly plugin: string;
  /** The plugin's `options` from the config, given to `run` as `ctx.options`. */
  readonly options: Readonly<Record<string, unknown>>;
}

const TYPE_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

const isZod = (schema: unknown): schema is z.ZodType =>
  schema !== null && typeof schema === "object" && typeof (schema as { safeParse?: unknown }).safeParse === "function";

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** Whether a value on the path to an issue is a template (its type is only known at run time). */
function underTemplate(params: unknown, path: readonly PropertyKey[]): boolean {
  for (let depth = 0; depth <= path.length; depth++) {
    if (isTemplated(valueAt(params, path.slice(0, depth)))) return true;
  }
  return false;
}

function pluginError(name: string, message: string, cause?: unknown): KilnError {
  return new KilnError("PLUGIN_LOAD_FAILED", `Plugin "${name}": ${message}`, cause === undefined ? {} : { cause });
}

/** Problems of one schema issue, worded like the built-in node types' ones. */
function paramProblems(type: string, issue: z.core.$ZodIssue, params: unknown): ParamProblem[] {
  const path = issue.path.filter((s): s is string | number => typeof s !== "symbol");
  const key = String(path[path.length - 1] ?? "params");
  const value = valueAt(params, path);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((unknown) => ({
      path: [...path, unknown],
      message: `Unknown param "${unknown}" of ${type}`,
    }));
  }
  if (issue.code === "invalid_type" && value === undefined) {
    return [{ path, message: `Missing required param "${key}" of ${type} (${issue.message})` }];
  }
  return [{ path, message: `Expected "${key}" to be ${issuePhrase(issue)}, got ${describeValue(value)}` }];
}

/** Turns a plugin definition into a registered node type (schema compiled, params checked). */
export function pluginNodeType(
  plugin: FlowPlugin,
  options: Readonly<Record<string, unknown>> = {},
  name: string = String(plugin?.type),
): PluginNodeType {
  if (!isRecord(plugin)) throw pluginError(name, "expected an object { type, schema, run }");
  if (typeof plugin.type !== "string" || !TYPE_PATTERN.test(plugin.type)) {
    throw pluginError(name, `"type" must be a node type name like "acme.ticket", got ${JSON.stringify(plugin.type)}`);
  }
  if (typeof plugin.run !== "function")
    throw pluginError(name, `node type "${plugin.type}" has no run(params, ctx) function`);
  let schema: z.ZodType | undefined;
  if (plugin.schema !== undefined) {
    if (isZod(plugin.schema)) schema = plugin.schema;
    else if (isRecord(plugin.schema)) {
      try {
        schema = zodFromJsonSchema(plugin.schema);
      } catch (error) {
        throw pluginError(
          name,
          `the JSON Schema of "${plugin.type}" cannot be used: ${(error as Error).message}`,
          error,
        );
      }
    } else throw pluginError(name, `"schema" of "${plugin.type}" must be a JSON Schema object or a zod schema`);
  }
  const type = plugin.type;
  const rawParams = Array.isArray(plugin.rawParams) ? plugin.rawParams.filter((k) => typeof k === "string") : [];
  const run = plugin.run.bind(plugin);
  return Object.freeze({
    type,
    kind: "step" as const,
    plugin: name,
    options: Object.freeze({ ...options }),
    ...(typeof plugin.description === "string" ? { description: plugin.description } : {}),
    ...(rawParams.length > 0 ? { rawParams } : {}),
    checkParams: (params: Readonly<Record<string, unknown>>): ParamProblem[] => {
      if (schema === undefined) return [];
      const result = schema.safeParse(params, { error: expectationPhrase });
      if (result.success) return [];
      const issues = result.error.issues.filter(
        (issue) => !underTemplate(params, issue.path) && !rawParams.includes(String(issue.path[0])),
      );
      return issues.flatMap((issue) => paramProblems(type, issue, params));
    },
    run: (params: NodeParams, ctx: NodeContext) => {
      if (schema === undefined) return run(params, ctx);
      const checked = checkValue(schema, params, "params");
      if (!checked.ok) throw invalidValueError(`params of ${type} node "${ctx.nodeId}"`, checked.problems);
      return run(checked.value as NodeParams, ctx);
    },
  });
}

/** The node definitions a plugin module exports. */
async function exportedPlugins(module: Record<string, unknown>, spec: ResolvedPlugin): Promise<FlowPlugin[]> {
  let exported: unknown = module.default ?? module;
  if (typeof exported === "function" && !("run" in exported)) exported = await exported(spec.options);
  if (isRecord(exported) && Array.isArray(exported.nodeTypes)) exported = exported.nodeTypes;
  if (!Array.isArray(exported) && isRecord(module) && Array.isArray(module.nodeTypes)) exported = module.nodeTypes;
  const list = Array.isArray(exported) ? exported : [exported];
  if (list.length === 0) throw pluginError(spec.name, `module ${spec.module} exports no node types`);
  return list as FlowPlugin[];
}

/** The import specifier of a plugin module: a path (absolute or relative to baseDir) or a package resolved from baseDir. */
function moduleUrl(module: string, baseDir: string): string {
  if (isAbsolute(module)) return pathToFileURL(module).href;
  if (module.startsWith("./") || module.startsWith("../")) return pathToFileURL(resolve(baseDir, module)).href;
  try {
    return pathToFileURL(createRequire(join(baseDir, "package.json")).resolve(module)).href;
  } catch {
    return module; // Let the import below resolve it (or say why it cannot).
  }
}

/**
 * Loads the node types of the config's plugins (`plugins:` entries, ResolvedPlugin). Fails with
 * PLUGIN_LOAD_FAILED naming the plugin when a module cannot be imported or exports no valid node
 * type. Register the result with nodeTypeRegistry (a type may not redefine a built-in).
 */
export async function loadPlugins(
  plugins: readonly ResolvedPlugin[],
  options: Readonly<{ baseDir?: string }> = {},
): Promise<PluginNodeType[]> {
  const baseDir = options.baseDir ?? process.cwd();
  const out: PluginNodeType[] = [];
  for (const spec of plugins) {
    let module: Record<string, unknown>;
    try {
      module = (await import(moduleUrl(spec.module, baseDir))) as Record<string, unknown>;
    } catch (error) {
      throw pluginError(spec.name, `cannot import ${spec.module}: ${(error as Error).message}`, error);
    }
    for (const plugin of await exportedPlugins(module, spec)) out.push(pluginNodeType(plugin, spec.options, spec.name));
  }
  return out;
}
