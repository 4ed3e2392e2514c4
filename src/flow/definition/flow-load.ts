import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { KilnError } from "../../errors.ts";
import { DEFAULT_MAX_VISITS, type FlowDefinition, type FlowNode } from "./flow-definition.ts";
import type { NodeSpec } from "./flow-schema.ts";
import type { NodeEntry } from "./node-entries.ts";
import { deepFreeze, record, resolveNode } from "../nodes/resolve-node.ts";
import { analyzeFlow, invalidFlowError, type ValidateFlowOptions } from "./validate-flow.ts";

/** Options of loading a flow. */
export interface LoadFlowOptions extends ValidateFlowOptions {
  /** The flow's name when `metadata.name` is absent (default: the file name without extension). */
  readonly name?: string;
}

/** Builds the frozen definition of a flow that passed validation. */
function resolveFlow(
  entries: readonly NodeEntry[],
  startNodeIds: readonly string[],
  header: NonNullable<ReturnType<typeof analyzeFlow>["header"]>,
  name: string,
): FlowDefinition {
  const specs = new Map(entries.map((entry) => [entry.id, entry.spec as NodeSpec]));
  const compensationOf = (id: string, spec: NodeSpec): FlowNode | null => {
    const compensate = spec.compensate;
    if (compensate === undefined) return null;
    if (typeof compensate !== "string") return resolveNode(`${id}.compensate`, compensate, null);
    // A named compensation runs as that node, without its routes: undoing never continues the graph.
    const target = specs.get(compensate) as NodeSpec;
    return resolveNode(compensate, { ...target, next: undefined, needs: undefined, when: undefined }, null);
  };
  const nodes = record(
    entries.map((entry) => {
      const spec = entry.spec as NodeSpec;
      return [entry.id, resolveNode(entry.id, spec, compensationOf(entry.id, spec))] as const;
    }),
  );
  const version = header.metadata?.version;
  return Object.freeze({
    name,
    description: header.metadata?.description ?? null,
    version: version === undefined ? null : String(version),
    inputSchema: header.params === undefined ? null : deepFreeze(structuredClone(header.params)),
    maxVisits: header.max_visits ?? DEFAULT_MAX_VISITS,
    nodes: Object.freeze(nodes),
    nodeIds: Object.freeze(entries.map((entry) => entry.id)),
    startNodeIds: Object.freeze([...startNodeIds]),
  });
}

/**
 * Parses, validates and resolves a flow file's text into a frozen FlowDefinition. Fails with one
 * INVALID_CONFIG KilnError listing every problem (`data.errors`: file, line, column, path, message).
 */
export function loadFlow(text: string, options: LoadFlowOptions): FlowDefinition {
  const file = options.file ?? "flow.yaml";
  const analysis = analyzeFlow(text, { ...options, file });
  if (analysis.problems.length > 0) throw invalidFlowError(file, analysis.problems);
  const header = analysis.header;
  if (header === undefined || analysis.entries.some((entry) => entry.spec === undefined)) {
    throw new KilnError("INTERNAL", `Flow ${file} passed validation but could not be resolved`);
  }
  const name = header.metadata?.name ?? options.name ?? basename(file, extname(file));
  return resolveFlow(analysis.entries, analysis.startNodeIds, header, name);
}

/** Reads and loads a flow file (`file` in messages defaults to the path). */
export async function readFlowFile(path: string, options: LoadFlowOptions): Promise<FlowDefinition> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new KilnError("CONFIG_NOT_FOUND", `Cannot read flow file ${path}: ${(cause as Error).message}`, { cause });
  }
  return loadFlow(text, { ...options, file: options.file ?? path });
}
