import { describeValue, didYouMean } from "../../config/config-problems.ts";
import { parseDuration } from "../../engine/duration.ts";
import { KilnError } from "../../errors.ts";
import type { ParamProblem } from "./node-type.ts";
import { hasTemplate } from "../expressions/template.ts";

/**
 * Declarative params of the built-in node types: what validation checks before a flow runs
 * (unknown keys, missing keys, kinds of literal values; a `${…}` value may become anything), and
 * typed readers that check the interpolated values when the node runs.
 */

/** The kind of value a param holds. */
export type ParamKind = "string" | "number" | "integer" | "boolean" | "object" | "array" | "duration" | "any";

/** One param of a node type. */
export interface ParamRule {
  readonly kind: ParamKind | readonly ParamKind[];
  readonly required?: boolean;
  /** Allowed values of a string param. */
  readonly values?: readonly string[];
  /** What the param does, for `kiln nodes show` and the node reference in docs/flows.md. */
  readonly description?: string;
  /** The keys of a mapping param, checked like top-level params when the mapping is written out. */
  readonly fields?: ParamRules;
}

/** The params of a node type, by key. */
export type ParamRules = Readonly<Record<string, ParamRule>>;

const PHRASES: Readonly<Record<ParamKind, string>> = {
  string: "a string",
  number: "a number",
  integer: "a whole number",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  duration: 'a duration like "30s" or a number of milliseconds',
  any: "a value",
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** Whether a value is a `${…}` template, whose type is only known when the node runs. */
export const isTemplated = (value: unknown): boolean => typeof value === "string" && hasTemplate(value);

function isDuration(value: unknown): boolean {
  if (typeof value !== "string" && typeof value !== "number") return false;
  try {
    parseDuration(value, "duration");
    return true;
  } catch {
    return false;
  }
}

function matches(kind: ParamKind, value: unknown): boolean {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "object":
      return isRecord(value);
    case "array":
      return Array.isArray(value);
    case "duration":
      return isDuration(value);
    case "any":
      return true;
  }
}

/** What a rule expects, in words. */
function expectation(rule: ParamRule): string {
  if (rule.values !== undefined) return `one of ${rule.values.join(", ")}`;
  const kinds = typeof rule.kind === "string" ? [rule.kind] : rule.kind;
  return kinds.map((kind) => PHRASES[kind]).join(" or ");
}

/** Whether a value satisfies a rule (a template satisfies any rule). */
function satisfies(rule: ParamRule, value: unknown): boolean {
  if (isTemplated(value)) return true;
  const kinds = typeof rule.kind === "string" ? [rule.kind] : rule.kind;
  if (!kinds.some((kind) => matches(kind, value))) return false;
  return rule.values === undefined || (typeof value === "string" && rule.values.includes(value));
}

/** Static problems of params against rules: unknown keys, missing required keys, literal values of the wrong kind. */
export function checkParamRules(
  type: string,
  rules: ParamRules,
  params: Readonly<Record<string, unknown>>,
): ParamProblem[] {
  const out: ParamProblem[] = [];
  const known = Object.keys(rules);
  for (const [key, value] of Object.entries(params)) {
    const rule = Object.hasOwn(rules, key) ? rules[key] : undefined;
    if (rule === undefined) {
      out.push({
        path: [key],
        message: `Unknown param "${key}" of ${type}${didYouMean(key, known)}. Known params: ${known.join(", ")}`,
      });
    } else if (!satisfies(rule, value)) {
      out.push({ path: [key], message: `Expected "${key}" to be ${expectation(rule)}, got ${describeValue(value)}` });
    } else if (rule.fields !== undefined && isRecord(value)) {
      for (const problem of checkParamRules(`${type} ${key}`, rule.fields, value)) {
        out.push({ ...problem, path: [key, ...problem.path] });
      }
    }
  }
  for (const [key, rule] of Object.entries(rules)) {
    if (rule.required === true && !Object.hasOwn(params, key)) {
      out.push({ path: [], message: `Missing required param "${key}" of ${type} (${expectation(rule)})` });
    }
  }
  return out;
}

/** The error of a param whose interpolated value does not fit (the node fails, not retried). */
export function badParam(type: string, key: string, expected: string, value: unknown): KilnError {
  return new KilnError(
    "INVALID_INPUT",
    `Expected param "${key}" of ${type} to be ${expected}, got ${value === undefined ? "nothing" : describeValue(value)}`,
    { data: { param: key } },
  );
}

/** Typed readers of interpolated params; each throws INVALID_INPUT naming the param. */
export function paramReader(type: string, params: Readonly<Record<string, unknown>>) {
  const get = (key: string) => (Object.hasOwn(params, key) ? params[key] : undefined);
  return {
    string(key: string): string | undefined {
      const value = get(key);
      if (value === undefined || value === null) return undefined;
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      if (typeof value !== "string") throw badParam(type, key, PHRASES.string, value);
      return value;
    },
    requiredString(key: string): string {
      const value = this.string(key);
      if (value === undefined || value === "") throw badParam(type, key, "a non-empty string", value);
      return value;
    },
    number(key: string): number | undefined {
      const value = get(key);
      if (value === undefined || value === null) return undefined;
      const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof number !== "number" || !Number.isFinite(number)) throw badParam(type, key, PHRASES.number, value);
      return number;
    },
    boolean(key: string): boolean | undefined {
      const value = get(key);
      if (value === undefined || value === null) return undefined;
      if (value === "true" || value === "false") return value === "true";
      if (typeof value !== "boolean") throw badParam(type, key, PHRASES.boolean, value);
      return value;
    },
    duration(key: string): number | undefined {
      const value = get(key);
      if (value === undefined || value === null) return undefined;
      if (!isDuration(value)) throw badParam(type, key, PHRASES.duration, value);
      return parseDuration(value as string | number, `param "${key}" of ${type}`);
    },
    record(key: string): Readonly<Record<string, unknown>> | undefined {
      const value = get(key);
      if (value === undefined || value === null) return undefined;
      if (!isRecord(value)) throw badParam(type, key, PHRASES.object, value);
      return value;
    },
    list(key: string): readonly unknown[] | undefined {
      const value = get(key);
      if (value === undefined || value === null) return undefined;
      if (!Array.isArray(value)) throw badParam(type, key, PHRASES.array, value);
      return value;
    },
    stringList(key: string): string[] | undefined {
      const value = get(key);
      if (value === undefined || value === null) return undefined;
      const list = typeof value === "string" ? [value] : value;
      if (!Array.isArray(list) || list.some((item) => typeof item !== "string")) {
        throw badParam(type, key, "a string or a list of strings", value);
      }
      return list as string[];
    },
    raw: get,
  };
}
