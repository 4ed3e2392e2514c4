import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { parseDuration } from "../engine/duration.ts";
import { type RetryPolicy, resolveRetryPolicy } from "../engine/retry-policy.ts";
import { KilnError } from "../errors.ts";
import { DEFAULT_ACTION, DEFAULT_MAX_VISITS, type FlowDefinition, type FlowNode } from "./flow-definition.ts";
import type { CompensationSpec, NextSpec, NodeSpec, RetrySpec } from "./flow-schema.ts";
import type { NodeEntry } from "./node-entries.ts";
import { canonicalNodeType } from "./node-type.ts";
import { analyzeFlow, invalidFlowError, type ValidateFlowOptions } from "./validate-flow.ts";

/** Options of loading a flow. */
export interface LoadFlowOptions extends ValidateFlowOptions {
  /** The flow's name when `metadata.name` is absent (default: the file name without extension). */
  readonly name?: string;
}

/** A record without a prototype, so that ids such as `constructor` are plain keys. */
function record<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) out[key] = value;
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function resolveNext(next: NextSpec | undefined): Readonly<Record<string, readonly string[]>> {
  if (next === undefined) return Object.freeze(record<readonly string[]>([]));
  if (typeof next === "string") return Object.freeze(record([[DEFAULT_ACTION, Object.freeze([next])]]));
  if (Array.isArray(next)) return Object.freeze(record([[DEFAULT_ACTION, Object.freeze([...next])]]));
  const routes = Object.entries(next).map(
    ([action, targets]) => [action, Object.freeze(typeof targets === "string" ? [targets] : [...targets])] as const,
  );
  return Object.freeze(record(routes));
}

function resolveRetry(retry: RetrySpec | undefined, id: string): RetryPolicy | null {
  if (retry === undefined) return null;
  const what = (key: string) => `nodes.${id}.retry.${key}`;
  return resolveRetryPolicy({
    ...(retry.max_attempts === undefined ? {} : { maxAttempts: retry.max_attempts }),
    ...(retry.initial_interval === undefined
      ? {}
      : { initialIntervalMs: parseDuration(retry.initial_interval, what("initial_interval")) }),
    ...(retry.max_interval === undefined
      ? {}
      : { maxIntervalMs: parseDuration(retry.max_interval, what("max_interval")) }),
    ...(retry.backoff_coefficient === undefined ? {} : { backoffCoefficient: retry.backoff_coefficient }),
    ...(retry.jitter === undefined ? {} : { jitter: retry.jitter }),
    ...(retry.non_retryable_errors === undefined ? {} : { nonRetryableErrors: retry.non_retryable_errors }),
  });
}

type NodeBody = CompensationSpec & Partial<Pick<NodeSpec, "next" | "needs" | "when">>;

function resolveNode(id: string, spec: NodeBody, compensate: FlowNode | null): FlowNode {
  return Object.freeze({
    id,
    type: canonicalNodeType(spec.type),
    name: spec.name ?? null,
    description: spec.description ?? null,
    params: deepFreeze(structuredClone(spec.params ?? {})),
    next: resolveNext(spec.next),
    needs: Object.freeze([...(spec.needs ?? [])]),
    retry: resolveRetry(spec.retry, id),
    timeoutMs: spec.timeout === undefined ? null : parseDuration(spec.timeout, `nodes.${id}.timeout`),
    when: spec.when ?? null,
    compensate,
  });
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
