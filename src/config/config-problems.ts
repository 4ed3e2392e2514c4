import type { z } from "zod";
import { KilnError } from "../errors.ts";

/** One thing wrong with a config file, with where it is. Lines and columns are 1-based. */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The key path in that file, e.g. `tasks[0].timeout_seconds` ("" for the whole file). */
  readonly path: string;
  readonly message: string;
}

/** A key path inside a parsed file. */
export type KeyPath = readonly (string | number)[];

/** Maps a key path to its position in the source text. */
export type Locate = (path: KeyPath, target: "key" | "value") => { line: number; column: number };

/** Formats a key path as users write it: `tasks[0].env.BUCKET`. */
export function formatKeyPath(path: KeyPath): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** The option name used in messages: the last key, with array indexes kept (`args[1]`). */
function optionName(path: KeyPath): string {
  let start = path.length - 1;
  while (start > 0 && typeof path[start] === "number") start--;
  return formatKeyPath(path.slice(Math.max(0, start))) || "config";
}

/** Shows a received value in a message: strings quoted, collections by kind. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value !== null && typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

const TYPE_PHRASES: Readonly<Record<string, string>> = {
  number: "a number",
  int: "a whole number",
  string: "a string",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
};

/**
 * The per-parse zod error map: every issue message becomes the expectation phrase ("a positive
 * number", "one of env, args"), so the formatter can say `Expected "x" to be <phrase>, got <value>`.
 * Schema-level messages (see schema.ts) take precedence and follow the same convention.
 */
export function expectationPhrase(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return TYPE_PHRASES[issue.expected] ?? `a ${issue.expected}`;
    case "too_small": {
      const min = Number(issue.minimum);
      if (issue.origin === "string") return min <= 1 ? "a non-empty string" : `a string of at least ${min} characters`;
      if (issue.origin === "array") return `a list of at least ${min} item${min === 1 ? "" : "s"}`;
      if (min === 0 && issue.inclusive === false) return "a positive number";
      return `a number of at least ${min}`;
    }
    case "too_big":
      return issue.origin === "number" ? `a number of at most ${Number(issue.maximum)}` : "shorter";
    case "invalid_value":
      return `one of ${issue.values.map((v) => String(v)).join(", ")}`;
    case "invalid_format":
      return issue.format === "regex" ? `text matching ${String(issue.pattern)}` : `a valid ${issue.format}`;
    default:
      return "valid";
  }
}

/** The value at a key path of parsed data, or undefined when the path does not exist. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let node = data;
  for (const segment of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

function unionPhrase(issue: z.core.$ZodIssueInvalidUnion): string {
  const phrases = new Set<string>();
  for (const branch of issue.errors) {
    const first = branch[0];
    if (first && first.path.length === 0) phrases.add(first.message);
  }
  return phrases.size > 0 ? [...phrases].join(" or ") : "valid";
}

/**
 * The expectation phrase of an issue parsed with `expectationPhrase` as its error map; a union
 * lists its branches' phrases ("a string or a list").
 */
export function issuePhrase(issue: z.core.$ZodIssue): string {
  return issue.code === "invalid_union" ? unionPhrase(issue) : issue.message;
}

/** Levenshtein distance, for typo suggestions. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/**
 * ` (did you mean "x"?)` for the closest candidate within `maxEdits` edits (`timout_seconds` →
 * `timeout_seconds`), else "". By default the allowed distance grows with the name, up to 3, so a
 * short user-chosen name (a node id) is not "corrected" into an unrelated one.
 */
export function didYouMean(
  name: string,
  candidates: Iterable<string>,
  maxEdits = Math.min(3, Math.max(1, Math.floor(name.length / 2))),
): string {
  let best: string | undefined;
  let bestDistance = maxEdits + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best === undefined ? "" : ` (did you mean "${best}"?)`;
}

// Known keys are a short fixed list, so a typo a few edits away (`uses` → `needs`) is still a
// useful suggestion even for a short key.
const KNOWN_KEY_EDITS = 3;

/** Context for turning zod issues into problems of one file. */
export interface IssueContext {
  readonly file: string;
  readonly data: unknown;
  readonly locate: Locate;
  /** Known keys of the object at a path of the validated value, for typo suggestions. */
  readonly knownKeys?: (path: KeyPath) => readonly string[];
  /** Maps an issue path of the validated value to the path in this file. */
  readonly mapPath?: (path: KeyPath) => KeyPath;
}

function problem(ctx: IssueContext, path: KeyPath, target: "key" | "value", message: string): ConfigProblem {
  const at = ctx.locate(path, target);
  return { file: ctx.file, line: at.line, column: at.column, path: formatKeyPath(path), message };
}

/** Turns every zod issue into a located problem with a message that says what to fix. */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], ctx: IssueContext): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = ctx.mapPath ? ctx.mapPath(issue.path as KeyPath) : (issue.path as KeyPath);
    const value = valueAt(ctx.data, path);
    const name = optionName(path);
    if (issue.code === "unrecognized_keys") {
      const known = ctx.knownKeys?.(issue.path as KeyPath) ?? [];
      for (const key of issue.keys) {
        out.push(problem(ctx, [...path, key], "key", `Unknown key "${key}"${didYouMean(key, known, KNOWN_KEY_EDITS)}`));
      }
    } else if (issue.code === "invalid_key") {
      const inner = issue.issues[0]?.message ?? "valid";
      const key = String(path[path.length - 1]);
      out.push(problem(ctx, path, "key", `Expected key "${key}" in "${optionName(path.slice(0, -1))}" to be ${inner}`));
    } else if (issue.code === "invalid_type" && value === undefined) {
      out.push(problem(ctx, path, "key", `Missing required key "${name}" (${issue.message})`));
    } else {
      out.push(
        problem(ctx, path, "value", `Expected "${name}" to be ${issuePhrase(issue)}, got ${describeValue(value)}`),
      );
    }
  }
  return out;
}

/** The one error for an invalid configuration: every problem, each on its own line. */
export function invalidConfigError(unsorted: readonly ConfigProblem[]): KilnError {
  const problems = [...unsorted].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column);
  const lines = problems.map((p) => `  ${p.file}:${p.line}:${p.column}${p.path ? ` ${p.path}` : ""}: ${p.message}`);
  const count = problems.length === 1 ? "1 error" : `${problems.length} errors`;
  return new KilnError("INVALID_CONFIG", `Invalid configuration (${count}):\n${lines.join("\n")}`, {
    data: { problems },
  });
}
