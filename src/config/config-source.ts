import { KilnError } from "../errors.ts";
import type { ConfigProblem, KeyPath, Locate } from "./config-problems.ts";
import { substituteLoadTime } from "./variables.ts";

/** One parsed config file: its data after load-time substitution, and how to locate a key in it. */
export interface ConfigSource {
  readonly file: string;
  readonly data: unknown;
  readonly locate: Locate;
  /** Syntax errors found while parsing (the data is then partial). */
  readonly problems: readonly ConfigProblem[];
}

/** Options of parsing one config file. */
export interface ParseSourceOptions {
  /** The file name used in messages. */
  readonly file: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

// Task fields where INPUT_*, STATE_* and KILN_* stay for exec to expand per run.
const RUN_TIME_FIELDS: ReadonlySet<string> = new Set(["command", "args", "env", "output_file", "working_directory"]);

/**
 * Whether the string at `path` is a task field expanded per run. Works for the base file
 * (`tasks[0].command`) and for tasks files (`[0].command`, `command`, `tasks[0].command`).
 */
export function isRunTimeField(path: KeyPath): boolean {
  let i = 0;
  if (path[i] === "tasks") i++;
  if (typeof path[i] === "number") i++;
  const field = path[i];
  return typeof field === "string" && RUN_TIME_FIELDS.has(field);
}

/** Collects unset-variable errors of one file so that all of them are reported at once. */
export class SubstitutionRun {
  readonly #errors: KilnError[] = [];
  readonly #options: ParseSourceOptions;

  constructor(options: ParseSourceOptions) {
    this.#options = options;
  }

  /** Substitutes one string found at `path`, whose text starts at `at`. */
  substitute(
    text: string,
    path: KeyPath,
    at: { line: number; column: number },
    lineOf?: (offset: number) => { line: number; column: number },
  ): string {
    try {
      const origin = { file: this.#options.file, ...at };
      return substituteLoadTime(text, { env: this.#options.env, keepRunTime: isRunTimeField(path) }, origin, lineOf);
    } catch (error) {
      if (!(error instanceof KilnError)) throw error;
      this.#errors.push(error);
      return text;
    }
  }

  /** Throws one CONFIG_VARIABLE_UNSET error listing every unset variable, if any. */
  finish(): void {
    const first = this.#errors[0];
    if (first === undefined) return;
    if (this.#errors.length === 1) throw first;
    const lines = this.#errors.map((e) => `  ${e.message}`).join("\n");
    throw new KilnError("CONFIG_VARIABLE_UNSET", `${this.#errors.length} variables are not set:\n${lines}`, {
      data: { variables: this.#errors.map((e) => e.data) },
    });
  }
}
