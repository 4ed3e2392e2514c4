import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { KilnError } from "../errors.ts";

/**
 * `input_schema` of a task kind: a JSON Schema (draft 2020-12) that a run's input must satisfy
 * before the run is created, and the input fields whose values are secrets (`secret_fields`, or
 * `x-secret: true` on a property), masked like every secret.
 */

const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addKeyword({ keyword: "x-secret", schemaType: "boolean" });

// Compiled once per schema text: the server checks every start against the same few schemas.
const compiled = new Map<string, ValidateFunction>();

function compile(schema: Readonly<Record<string, unknown>>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    compiled.set(key, validate);
  }
  return validate;
}

/** Refuses a schema that is not valid JSON Schema 2020-12 (at config load), with Ajv's reason. */
export function checkInputSchema(schema: Readonly<Record<string, unknown>>, where: string): void {
  try {
    compile(schema);
  } catch (cause) {
    throw new KilnError(
      "INVALID_CONFIG",
      `${where}: input_schema is not a valid JSON Schema: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
}

function describe(error: ErrorObject): { field: string; message: string } {
  const missing = (error.params as { missingProperty?: string }).missingProperty;
  const extra = (error.params as { additionalProperty?: string }).additionalProperty;
  const base = error.instancePath.replace(/^\//, "").replace(/\//g, ".");
  const join = (name: string) => (base === "" ? name : `${base}.${name}`);
  if (missing !== undefined) return { field: join(missing), message: "is required" };
  if (extra !== undefined) return { field: join(extra), message: "is not allowed (additionalProperties: false)" };
  return { field: base === "" ? "(input)" : base, message: error.message ?? "is invalid" };
}

/** Checks a run input against a kind's schema: INVALID_INPUT naming every field that is wrong. */
export function assertInputMatches(kind: string, schema: Readonly<Record<string, unknown>>, input: unknown): void {
  const validate = compile(schema);
  if (validate(input ?? null)) return;
  const problems = (validate.errors ?? []).map(describe);
  const first = problems[0] ?? { field: "(input)", message: "is invalid" };
  throw new KilnError(
    "INVALID_INPUT",
    `The input of task kind "${kind}" does not match its input_schema: ${problems.map((p) => `"${p.field}" ${p.message}`).join("; ")}`,
    { data: { field: first.field, fields: problems } },
  );
}

/** The fields marked `x-secret: true` in a schema's properties (nested ones as `a.b`). */
export function schemaSecretFields(schema: unknown, prefix = ""): string[] {
  const out: string[] = [];
  const properties = (schema as { properties?: unknown } | null)?.properties;
  if (properties === null || typeof properties !== "object") return out;
  for (const [name, sub] of Object.entries(properties as Record<string, unknown>)) {
    const path = prefix === "" ? name : `${prefix}.${name}`;
    if ((sub as { "x-secret"?: unknown } | null)?.["x-secret"] === true) out.push(path);
    else out.push(...schemaSecretFields(sub, path));
  }
  return out;
}

/** The values at secret field paths of an input (strings as is, others as JSON), for the masker. */
export function secretInputValues(input: unknown, fields: readonly string[]): string[] {
  const values: string[] = [];
  for (const field of fields) {
    let value: unknown = input;
    for (const part of field.split(".")) {
      value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
    }
    if (value === undefined || value === null || value === "") continue;
    values.push(typeof value === "string" ? value : JSON.stringify(value));
  }
  return values;
}

/** A copy of an input with the values at secret field paths replaced by `***`. */
export function maskInputFields(input: unknown, fields: readonly string[]): unknown {
  if (fields.length === 0 || input === null || typeof input !== "object") return input;
  const copy = structuredClone(input) as Record<string, unknown>;
  for (const field of fields) {
    const parts = field.split(".");
    let node: unknown = copy;
    for (const part of parts.slice(0, -1)) {
      node = node !== null && typeof node === "object" ? (node as Record<string, unknown>)[part] : undefined;
    }
    const last = parts[parts.length - 1] as string;
    if (node !== null && typeof node === "object" && Object.hasOwn(node, last)) {
      (node as Record<string, unknown>)[last] = "***";
    }
  }
  return copy;
}
