import { KilnError } from "../../errors.ts";
import type { ExpressionScope } from "./expression-scope.ts";
import type { CodeChecker, Sandbox } from "./sandbox.ts";
import { hasTemplate, type ParsedTemplate, parseTemplate } from "./template.ts";

/**
 * `${…}` interpolation of node params. Typing rule: a string that is exactly one `${expr}` takes
 * the JSON value of the expression (number, object, list, boolean, null); text with embedded
 * expressions gets each value stringified (strings as is, null/undefined as "", objects and lists
 * as JSON). Objects and lists are walked deeply; keys are never interpolated.
 */

/** An interpolated value and the secrets its expressions read (names and values, to mask). */
export interface Interpolated<T = unknown> {
  readonly value: T;
  /** Names of the secrets read, sorted. */
  readonly secretNames: readonly string[];
  /** The values of those secrets: replace them by `***` in anything stored or logged. */
  readonly secretValues: readonly string[];
}

/** Options of `interpolate`. */
export interface InterpolateOptions {
  /** Top-level keys left exactly as written (code and shell text, e.g. a transform's `script`). */
  readonly rawKeys?: readonly string[];
}

const EMPTY: readonly string[] = Object.freeze([]);
const parsedCache = new Map<string, ParsedTemplate>();
const MAX_PARSED = 5000;

/** Parses a template once; the result is cached (templates come from a bounded set of flow files). */
function parsed(text: string): ParsedTemplate {
  let result = parsedCache.get(text);
  if (result === undefined) {
    result = parseTemplate(text);
    if (parsedCache.size >= MAX_PARSED) parsedCache.clear();
    parsedCache.set(text, result);
  }
  return result;
}

/** Collects secret names across the expressions of one interpolation. */
class SecretsRead {
  names: Set<string> | undefined;

  add(names: readonly string[]): void {
    if (names.length === 0) return;
    this.names ??= new Set();
    for (const name of names) this.names.add(name);
  }

  finish<T>(value: T, scope: ExpressionScope): Interpolated<T> {
    if (this.names === undefined) return { value, secretNames: EMPTY, secretValues: EMPTY };
    const secretNames = Object.freeze([...this.names].sort());
    const values = new Set<string>();
    for (const name of secretNames) {
      const secret = scope.secrets?.[name];
      if (typeof secret === "string" && secret !== "") values.add(secret);
    }
    return { value, secretNames, secretValues: Object.freeze([...values]) };
  }
}

/** How an embedded value reads inside text. */
export function stringifyEmbedded(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function interpolateText(sandbox: Sandbox, text: string, scope: ExpressionScope, read: SecretsRead): unknown {
  if (!hasTemplate(text)) return text;
  const template = parsed(text);
  if (!template.ok) {
    throw new KilnError("EXPRESSION_FAILED", `${template.message} at offset ${template.offset} of "${text}"`, {
      data: { reason: "syntax" },
    });
  }
  const { parts } = template;
  const only = parts[0];
  if (parts.length === 1 && only?.kind === "expression") {
    const result = sandbox.evaluate(only.source, scope);
    read.add(result.secretNames);
    return result.value;
  }
  let out = "";
  for (const part of parts) {
    if (part.kind === "text") out += part.text;
    else {
      const result = sandbox.evaluate(part.source, scope);
      read.add(result.secretNames);
      out += stringifyEmbedded(result.value);
    }
  }
  return out;
}

function walk(sandbox: Sandbox, value: unknown, scope: ExpressionScope, read: SecretsRead, raw?: ReadonlySet<string>) {
  if (typeof value === "string") return interpolateText(sandbox, value, scope, read);
  if (Array.isArray(value)) return value.map((item): unknown => walk(sandbox, item, scope, read));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const resolved = raw?.has(key) ? item : walk(sandbox, item, scope, read);
      Object.defineProperty(out, key, { value: resolved, enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** Interpolates one string: `"${input.n}"` → 3, `"n=${input.n}"` → "n=3". */
export function interpolateString(sandbox: Sandbox, text: string, scope: ExpressionScope): Interpolated {
  const read = new SecretsRead();
  return read.finish(interpolateText(sandbox, text, scope, read), scope);
}

/**
 * Interpolates every string in a value (node params), deeply. Fails with EXPRESSION_FAILED on the
 * first expression that fails. The input is not modified.
 */
export function interpolate(
  sandbox: Sandbox,
  value: unknown,
  scope: ExpressionScope,
  options: InterpolateOptions = {},
): Interpolated {
  const read = new SecretsRead();
  const raw = options.rawKeys === undefined || options.rawKeys.length === 0 ? undefined : new Set(options.rawKeys);
  return read.finish(walk(sandbox, value, scope, read, raw), scope);
}

/** Replaces every occurrence of the given secret values by `***` in the strings of a value, deeply. */
export function maskSecrets<T>(value: T, secretValues: readonly string[]): T {
  // Longest first, so a secret that contains another is masked whole.
  const values = secretValues.filter((secret) => secret !== "").sort((a, b) => b.length - a.length);
  if (values.length === 0) return value;
  const mask = (item: unknown): unknown => {
    if (typeof item === "string") return values.reduce((text, secret) => text.split(secret).join("***"), item);
    if (Array.isArray(item)) return item.map(mask);
    if (item !== null && typeof item === "object") {
      const out: Record<string, unknown> = {};
      for (const [key, inner] of Object.entries(item)) {
        Object.defineProperty(out, key, { value: mask(inner), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return item;
  };
  return mask(value) as T;
}

/** A bad `${…}` template found by checkTemplates: where (path, offset in the string) and why. */
export interface TemplateProblem {
  readonly path: readonly (string | number)[];
  /** Offset of the problem in the string at `path`. */
  readonly offset: number;
  readonly message: string;
}

/** Checks the templates of one string: every `${…}` parses and compiles (nothing is run). */
export function checkTemplateText(code: CodeChecker, text: string): { offset: number; message: string }[] {
  if (!hasTemplate(text)) return [];
  const template = parseTemplate(text);
  if (!template.ok) return [{ offset: template.offset, message: template.message }];
  const out: { offset: number; message: string }[] = [];
  for (const part of template.parts) {
    if (part.kind !== "expression") continue;
    const problem = code.checkExpression(part.source);
    if (problem !== undefined) {
      out.push({ offset: part.offset, message: `Bad expression \${${part.source}}: ${problem.message}` });
    }
  }
  return out;
}

/** Checks every template in a value (node params), deeply; `rawKeys` at the top level are skipped. */
export function checkTemplates(
  code: CodeChecker,
  value: unknown,
  path: readonly (string | number)[] = [],
  rawKeys: readonly string[] = [],
): TemplateProblem[] {
  const out: TemplateProblem[] = [];
  const visit = (item: unknown, at: readonly (string | number)[], top: boolean) => {
    if (typeof item === "string") {
      for (const problem of checkTemplateText(code, item)) out.push({ path: at, ...problem });
    } else if (Array.isArray(item)) {
      item.forEach((inner, index) => {
        visit(inner, [...at, index], false);
      });
    } else if (item !== null && typeof item === "object") {
      for (const [key, inner] of Object.entries(item)) {
        if (!(top && rawKeys.includes(key))) visit(inner, [...at, key], false);
      }
    }
  };
  visit(value, path, true);
  return out;
}
