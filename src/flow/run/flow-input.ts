import { z } from "zod";
import {
  describeValue,
  expectationPhrase,
  formatKeyPath,
  issuePhrase,
  type KeyPath,
  valueAt,
} from "../../config/config-problems.ts";
import { KilnError } from "../../errors.ts";
import type { FlowDefinition } from "../definition/flow-definition.ts";

/**
 * JSON Schema validation of data Kiln did not write: a flow's input against its `params:`, and a
 * plugin node's params against its schema. Schemas are turned into zod schemas once
 * (z.fromJSONSchema) and cached; messages say which field and what was expected.
 */

/** A JSON Schema object. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** One problem with a value: where (`input.items[2].sku`) and what is wrong. */
export interface ValueProblem {
  readonly path: string;
  readonly message: string;
}

const compiled = new WeakMap<object, z.ZodType>();

/** The zod schema of a JSON Schema (cached per schema object); throws with the reason it is unsupported. */
export function zodFromJsonSchema(schema: JsonSchema): z.ZodType {
  let out = compiled.get(schema);
  if (out === undefined) {
    out = z.fromJSONSchema(structuredClone(schema) as Parameters<typeof z.fromJSONSchema>[0]);
    compiled.set(schema, out);
  }
  return out;
}

/** Why a JSON Schema cannot be used, or undefined when it can (for `kiln validate`). */
export function checkInputSchema(schema: JsonSchema): string | undefined {
  try {
    zodFromJsonSchema(schema);
    return undefined;
  } catch (error) {
    return `The params JSON Schema cannot be used: ${(error as Error).message}`;
  }
}

/** Turns zod issues (parsed with the expectation-phrase error map) into located problems under `root`. */
export function valueProblems(issues: readonly z.core.$ZodIssue[], data: unknown, root: string): ValueProblem[] {
  const out: ValueProblem[] = [];
  for (const issue of issues) {
    const path = issue.path as KeyPath;
    const where = formatKeyPath([root, ...path]);
    const value = valueAt(data, issue.path);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) out.push({ path: formatKeyPath([root, ...path, key]), message: "unknown field" });
    } else if (issue.code === "invalid_type" && value === undefined) {
      out.push({ path: where, message: `missing (expected ${issue.message})` });
    } else {
      out.push({ path: where, message: `expected ${issuePhrase(issue)}, got ${describeValue(value)}` });
    }
  }
  return out;
}

/** Validates a value against a zod schema; returns the parsed value (defaults applied) or the problems. */
export function checkValue(
  schema: z.ZodType,
  value: unknown,
  root: string,
): { ok: true; value: unknown } | { ok: false; problems: ValueProblem[] } {
  const result = schema.safeParse(value, { error: expectationPhrase });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, problems: valueProblems(result.error.issues, value, root) };
}

/** One INVALID_INPUT error listing every problem (`data.errors`). */
export function invalidValueError(what: string, problems: readonly ValueProblem[]): KilnError {
  const list = problems.map((p) => `${p.path}: ${p.message}`).join("; ");
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return new KilnError("INVALID_INPUT", `Invalid ${what} (${count}): ${list}`, {
    retryable: false,
    data: { errors: problems },
  });
}

/**
 * Checks a flow run's input against the flow's `params` JSON Schema and returns it with schema
 * defaults applied. Throws INVALID_INPUT naming every bad field (`input.amount: expected a number
 * of at least 0, got -1`). A flow without `params` accepts any input.
 */
export function validateFlowInput(flow: FlowDefinition, input: unknown): unknown {
  if (flow.inputSchema === null) return input;
  let schema: z.ZodType;
  try {
    schema = zodFromJsonSchema(flow.inputSchema);
  } catch (error) {
    throw new KilnError("INVALID_CONFIG", `Flow "${flow.name}": ${checkInputSchema(flow.inputSchema)}`, {
      cause: error,
    });
  }
  // A run started without input is an empty object to an object schema: all-optional params just work.
  const value = (input === null || input === undefined) && flow.inputSchema.type === "object" ? {} : input;
  const result = checkValue(schema, value, "input");
  if (!result.ok) throw invalidValueError(`input for flow "${flow.name}"`, result.problems);
  return result.value;
}
