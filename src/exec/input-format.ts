import { writeFileSync } from "node:fs";
import type { InputFormat } from "../config/resolved-config.ts";
import { KilnError } from "../errors.ts";
import { envKey, envValue, isPlainObject } from "./env-names.ts";

/** How the run input reaches the process. */
export interface PreparedInput {
  /** INPUT_* variables (and INPUT_FILE for json_file). */
  readonly env: Readonly<Record<string, string>>;
  /** Positional arguments appended after the kind's args (input_format args). */
  readonly args: readonly string[];
  /** Text written to stdin (json_stdin), or null for /dev/null. */
  readonly stdin: string | null;
}

/**
 * The INPUT_<KEY> variables of an input: one per top-level field (objects and arrays as JSON);
 * a non-object input is passed whole as INPUT.
 */
export function inputEnv(input: unknown): Record<string, string> {
  if (input === undefined || input === null) return {};
  if (!isPlainObject(input)) return { INPUT: envValue(input) };
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(input)) env[`INPUT_${envKey(key)}`] = envValue(value);
  return env;
}

/** The positional arguments of an input: fields in `order` (or key order); arrays element by element. */
export function inputArgs(input: unknown, order: readonly string[] | null): string[] {
  if (input === undefined || input === null) return [];
  if (Array.isArray(input)) return input.map(envValue);
  if (!isPlainObject(input)) return [envValue(input)];
  return (order ?? Object.keys(input)).map((key) => envValue(input[key]));
}

/** Options of preparing the input. */
export interface PrepareInputOptions {
  readonly format: InputFormat;
  readonly inputArgs: readonly string[] | null;
  /** Put before the input's arguments ("--" by default) so a value like "--output=x" is never an option. */
  readonly argsSeparator?: string;
  /** With a shell, input always arrives as env vars too, so scripts use "$INPUT_X", never spliced text. */
  readonly shell: boolean;
  /** The private file json_file writes (in the attempt's 0700 directory). */
  readonly inputFile: string;
}

/** Prepares the input for one attempt; writes the private input file for json_file. */
export async function prepareInput(input: unknown, options: PrepareInputOptions): Promise<PreparedInput> {
  const env = options.format === "env" || options.shell ? inputEnv(input) : {};
  for (const [name, value] of Object.entries(env)) {
    if (value.includes("\0")) {
      throw new KilnError(
        "INVALID_INPUT",
        `The input field for ${name} contains a NUL byte, which env vars cannot hold`,
      );
    }
  }
  switch (options.format) {
    case "json_stdin":
      return { env, args: [], stdin: `${JSON.stringify(input ?? null)}\n` };
    case "json_file": {
      const path = options.inputFile;
      writeFileSync(path, JSON.stringify(input ?? null), { mode: 0o600, flag: "wx" });
      return { env: { ...env, INPUT_FILE: path }, args: [], stdin: null };
    }
    case "args": {
      const args = inputArgs(input, options.inputArgs);
      if (args.some((arg) => arg.includes("\0"))) {
        throw new KilnError("INVALID_INPUT", "An input field contains a NUL byte, which arguments cannot hold");
      }
      const separator = options.argsSeparator ?? "";
      return { env, args: separator === "" || args.length === 0 ? args : [separator, ...args], stdin: null };
    }
    default:
      return { env, args: [], stdin: null };
  }
}
