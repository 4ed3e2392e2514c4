import type { z } from "zod";
import { expectationPhrase, type KeyPath } from "../../config/config-problems.ts";
import { DEFAULT_ACTION } from "./flow-definition.ts";
import { NODE_ID_PATTERN, type NextSpec, type NodeSpec, nextSchema, nodeSchema, stepSchema } from "./flow-schema.ts";

/**
 * Reads the nodes of a flow file, from a `nodes:` map or a `steps:` list, into one shape. Steps
 * become nodes (`run` → a script node, aliases resolved, an implicit default route to the next
 * step unless that step has `needs`). Every entry remembers where it is written, so problems found
 * on the normalized graph point at the user's own lines.
 */

/** One node of a flow file, normalized, with where it is written. */
export interface NodeEntry {
  readonly id: string;
  /** The node's own path in the file: `["nodes", id]` or `["steps", index]`. */
  readonly path: KeyPath;
  /** The node in `nodes:` form; undefined when it does not match the schema. */
  readonly spec: NodeSpec | undefined;
  /** The parts the graph checks need, read leniently so one bad field does not hide others. */
  readonly graph: GraphView;
  /** The key written in the file for a key of the normalized node (steps: `with`, `depends`, `if`, `run`). */
  readonly keyOf: (key: "type" | "params" | "needs" | "when" | "next") => string;
  /** Where a value inside the node's params is written (a step's `run` is its own key). */
  readonly paramPath: (relative: KeyPath) => KeyPath;
  /** Whether the step shorthand added the default route (it has no position of its own). */
  readonly implicitNext: boolean;
  /** Schema issues of this node, paths relative to `path`. */
  readonly issues: readonly z.core.$ZodIssue[];
}

/** What the graph checks read of a node. */
export interface GraphView {
  readonly type: string | undefined;
  readonly next: NextSpec | undefined;
  readonly needs: readonly string[];
  readonly compensate: unknown;
  readonly params: Readonly<Record<string, unknown>> | undefined;
  readonly when: unknown;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

const stringList = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];

function lenientNext(value: unknown): NextSpec | undefined {
  const parsed = nextSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The entries of a `nodes:` map. */
export function nodesMapEntries(nodes: Readonly<Record<string, unknown>>): NodeEntry[] {
  return Object.entries(nodes).map(([id, raw]) => {
    const parsed = nodeSchema.safeParse(raw, { error: expectationPhrase });
    const fields = isRecord(raw) ? raw : {};
    // `run: TEXT` is the script shorthand, as in the steps form: type script, params.run = TEXT.
    const runText = typeof fields.run === "string" ? fields.run : undefined;
    const type = typeof fields.type === "string" ? fields.type : runText !== undefined ? "script" : undefined;
    const writtenParams = isRecord(fields.params) ? fields.params : undefined;
    const params = runText === undefined ? writtenParams : { ...writtenParams, run: runText };
    let spec: NodeSpec | undefined;
    if (parsed.success && type !== undefined) {
      const { run: _run, ...rest } = parsed.data;
      spec = { ...rest, type, ...(params === undefined ? {} : { params }) };
    }
    return {
      id,
      path: ["nodes", id],
      spec,
      graph: {
        type,
        next: lenientNext(fields.next),
        needs: stringList(fields.needs),
        compensate: fields.compensate,
        params,
        when: fields.when,
      },
      keyOf: (key) => (key === "type" && fields.type === undefined && runText !== undefined ? "run" : key),
      paramPath: (relative) =>
        relative[0] === "run" && runText !== undefined && writtenParams?.run === undefined
          ? ["nodes", id, "run", ...relative.slice(1)]
          : ["nodes", id, "params", ...relative],
      implicitNext: false,
      issues: parsed.success ? [] : parsed.error.issues,
    };
  });
}

/** The id of step `index`: its `id`, else its `name` when that is a valid id, else `step_<n>`. */
export function stepId(raw: unknown, index: number): string {
  const fields = isRecord(raw) ? raw : {};
  if (typeof fields.id === "string") return fields.id;
  if (typeof fields.name === "string" && NODE_ID_PATTERN.test(fields.name)) return fields.name;
  return `step_${index + 1}`;
}

/** Adds the shorthand's default route (to `following`) to a step's `next`, unless it routes `default` itself. */
function withImplicitNext(next: NextSpec | undefined, following: string | undefined): [NextSpec | undefined, boolean] {
  if (following === undefined) return [next, false];
  if (next === undefined) return [following, true];
  if (typeof next === "string" || Array.isArray(next)) return [next, false];
  if (Object.hasOwn(next, DEFAULT_ACTION)) return [next, false];
  return [{ ...next, [DEFAULT_ACTION]: following }, true];
}

/** The entries of a `steps:` list. */
export function stepsListEntries(steps: readonly unknown[]): NodeEntry[] {
  const ids = steps.map(stepId);
  return steps.map((raw, index) => {
    const fields = isRecord(raw) ? raw : {};
    const nextRaw = steps[index + 1];
    const nextHasNeeds = isRecord(nextRaw) && (nextRaw.needs !== undefined || nextRaw.depends !== undefined);
    const following = index + 1 < steps.length && !nextHasNeeds ? ids[index + 1] : undefined;
    const [next, implicitNext] = withImplicitNext(lenientNext(fields.next), following);
    const runText = typeof fields.run === "string" ? fields.run : undefined;
    const type = typeof fields.type === "string" ? fields.type : runText !== undefined ? "script" : undefined;
    const writtenParams = isRecord(fields.params) ? fields.params : isRecord(fields.with) ? fields.with : undefined;
    const params = runText === undefined ? writtenParams : { ...writtenParams, run: runText };
    const needsKey = fields.needs === undefined && fields.depends !== undefined ? "depends" : "needs";
    const whenKey = fields.when === undefined && fields.if !== undefined ? "if" : "when";
    const paramsKey = fields.params === undefined && fields.with !== undefined ? "with" : "params";
    const parsed = stepSchema.safeParse(raw, { error: expectationPhrase });
    let spec: NodeSpec | undefined;
    if (parsed.success && type !== undefined) {
      const step = parsed.data;
      const when = step.when ?? step.if;
      const needs = step.needs ?? step.depends;
      spec = {
        type,
        ...(step.name === undefined ? {} : { name: step.name }),
        ...(step.description === undefined ? {} : { description: step.description }),
        ...(params === undefined ? {} : { params }),
        ...(next === undefined ? {} : { next }),
        ...(step.retry === undefined ? {} : { retry: step.retry }),
        ...(step.timeout === undefined ? {} : { timeout: step.timeout }),
        ...(needs === undefined ? {} : { needs }),
        ...(when === undefined ? {} : { when }),
        ...(step.compensate === undefined ? {} : { compensate: step.compensate }),
      };
    }
    return {
      id: ids[index] as string,
      path: ["steps", index],
      spec,
      graph: {
        type,
        next,
        needs: stringList(fields.needs ?? fields.depends),
        compensate: fields.compensate,
        params,
        when: fields.when ?? fields.if,
      },
      keyOf: (key) => {
        if (key === "type") return fields.type === undefined && runText !== undefined ? "run" : "type";
        if (key === "params") return paramsKey;
        if (key === "needs") return needsKey;
        if (key === "when") return whenKey;
        return key;
      },
      paramPath: (relative) =>
        relative[0] === "run" && runText !== undefined && writtenParams?.run === undefined
          ? ["steps", index, "run", ...relative.slice(1)]
          : ["steps", index, paramsKey, ...relative],
      implicitNext,
      issues: parsed.success ? [] : parsed.error.issues,
    };
  });
}
