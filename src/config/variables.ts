import { KilnError } from "../errors.ts";

/**
 * `${VAR}` references: `${NAME}`, `${NAME:-default}`, `${secret:NAME}` and
 * `${secret:PROVIDER:REF}` (e.g. `${secret:env:API_KEY}`, `${secret:file:/run/key}`,
 * `${secret:cmd:pass show db}`, `${secret:hcvault:secret/app#password}`); `$${` is a literal
 * `${`. Config loading expands load-time variables; exec expands the run-time ones
 * (`INPUT_*`, `STATE_*`, `KILN_*`, secrets) per run with the same grammar.
 */

/** One `${…}` reference found in a text. */
export interface VariableRef {
  /** The variable (or secret) name; for a provider secret, `PROVIDER:REF` (e.g. `env:API_KEY`). */
  readonly name: string;
  /** The text after `:-`, or null when no default was given. */
  readonly defaultValue: string | null;
  /** Whether it is a `${secret:NAME}` reference. */
  readonly secret: boolean;
  /** Offset of the `$` in the text. */
  readonly index: number;
  /** The reference as written, e.g. `${BUCKET:-tmp}`. */
  readonly raw: string;
}

// The first alternative is a provider secret: `secret:` then a lower-case provider name, `:`, and a
// reference that runs to the closing brace (not `:-…`, which keeps meaning "default").
const REFERENCE =
  /\$(\$?)\{(?:secret:([a-z][a-z0-9-]*:(?!-)[^}]+)|(secret:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?)\}/g;
const RUN_TIME_PREFIXES = ["INPUT_", "STATE_", "KILN_"] as const;

/** Whether a variable is expanded per run rather than at load time. */
export function isRunTimeVariable(name: string): boolean {
  return RUN_TIME_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/**
 * Replaces every reference with what `resolve` returns; `undefined` keeps the reference as written.
 * `$${…}` escapes are turned into a literal `${…}` and never resolved.
 */
export function replaceVariables(text: string, resolve: (ref: VariableRef) => string | undefined): string {
  if (!text.includes("${")) return text;
  return text.replace(
    REFERENCE,
    (
      raw: string,
      escaped: string,
      providerRef: string | undefined,
      secret: string | undefined,
      name: string | undefined,
      def: string | undefined,
      index: number,
    ) => {
      if (escaped) return raw.slice(1);
      const value =
        providerRef === undefined
          ? resolve({ name: name as string, defaultValue: def ?? null, secret: secret !== undefined, index, raw })
          : resolve({ name: providerRef, defaultValue: null, secret: true, index, raw });
      return value ?? raw;
    },
  );
}

/** Where a text being substituted came from, for the unset-variable error. */
export interface TextOrigin {
  readonly file: string;
  /** 1-based line of the text's start. */
  readonly line: number;
  readonly column: number;
}

/** Options of load-time substitution. */
export interface LoadTimeSubstitution {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether run-time variables (INPUT_*, STATE_*, KILN_*) are kept for exec (task command/args/env). */
  readonly keepRunTime: boolean;
}

/**
 * Expands load-time variables in one config string. An unset variable without a default is a
 * CONFIG_VARIABLE_UNSET error naming the variable, the file and the line (`lineOf` maps an offset
 * in `text` to its position when the text spans lines).
 */
export function substituteLoadTime(
  text: string,
  options: LoadTimeSubstitution,
  origin: TextOrigin,
  lineOf: (offset: number) => { line: number; column: number } = () => origin,
): string {
  return replaceVariables(text, (ref) => {
    if (ref.secret) return undefined;
    if (options.keepRunTime && isRunTimeVariable(ref.name)) return undefined;
    const value = options.env[ref.name];
    // `:-` follows the shell: an empty value counts as unset when a default is given.
    if (value !== undefined && !(value === "" && ref.defaultValue !== null)) return value;
    if (ref.defaultValue !== null) return ref.defaultValue;
    const at = lineOf(ref.index);
    throw new KilnError(
      "CONFIG_VARIABLE_UNSET",
      `${origin.file}:${at.line}:${at.column}: the variable ${ref.name} is not set (used as ${ref.raw}); ` +
        `set it, or give a default with \${${ref.name}:-default}`,
      { data: { variable: ref.name, file: origin.file, line: at.line, column: at.column } },
    );
  });
}
