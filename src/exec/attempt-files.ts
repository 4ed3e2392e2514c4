import { existsSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import { KilnError } from "../errors.ts";
import type { AttemptRecorder } from "./attempt-recorder.ts";
import type { AttemptSpace } from "./attempt-space.ts";
import { formatSize } from "./bounded-lines.ts";
import { parseKeyValueFile } from "./output-files.ts";

/** The local API socket and the files of one attempt, in its process's private directory. */
export interface AttemptPaths {
  /** `$KILN_API_SOCKET` (shared by the process's attempts; requests name their attempt by token). */
  readonly socket: string;
  /** `$KILN_OUTPUT`. */
  readonly outputFile: string;
  /** `$KILN_STATE`. */
  readonly stateFile: string;
  /** `$KILN_OUTPUT_FILE`, the default file of `output_format: file`. */
  readonly resultFile: string;
  /** `$INPUT_FILE` of `input_format: json_file`. */
  readonly inputFile: string;
}

// The per-attempt file operations here are tiny and synchronous on purpose: a thread-pool round
// trip each would add about a millisecond to every task (issue 3 budgets 1 ms of overhead).

/**
 * The paths of a new attempt. Nothing is created: `$KILN_OUTPUT` and `$KILN_STATE` are created by
 * the script's first `>>`, if it writes them, in the space's private 0700 directory.
 */
export function attemptPaths(space: AttemptSpace): AttemptPaths {
  const prefix = join(space.dir, space.nextPrefix());
  return {
    socket: space.api.socketPath,
    outputFile: `${prefix}output.env`,
    stateFile: `${prefix}state.env`,
    resultFile: `${prefix}result.json`,
    inputFile: `${prefix}input.json`,
  };
}

// Expected misses are checked, not caught: a thrown fs error costs more than the call itself.

/** Removes whichever of the attempt's files exist (the input and result files only where the kind uses them). */
export function removeAttemptFiles(paths: AttemptPaths, kind: ResolvedTaskKind): void {
  removeIfExists(paths.outputFile);
  removeIfExists(paths.stateFile);
  if (kind.inputFormat === "json_file") removeIfExists(paths.inputFile);
  if (kind.outputFormat === "file" && kind.outputFile === null) removeIfExists(paths.resultFile);
}

function removeIfExists(file: string): void {
  if (existsSync(file)) unlinkSync(file);
}

function readIfExists(file: string, maxBytes: number, name: string): string | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file);
  if (text.length > maxBytes) {
    throw new KilnError(
      "OUTPUT_TOO_LARGE",
      `${name} is ${formatSize(text.length)}, over max_output_size_kb ${maxBytes / 1024}`,
      { retryable: false },
    );
  }
  return text.toString("utf8");
}

/** Applies the `$KILN_OUTPUT` and `$KILN_STATE` files a script wrote (capped like the output). */
export function applyKeyValueFiles(paths: AttemptPaths, recorder: AttemptRecorder, maxKb: number): void {
  const output = readIfExists(paths.outputFile, maxKb * 1024, "$KILN_OUTPUT");
  if (output !== null) {
    for (const [key, value] of parseKeyValueFile(output, "$KILN_OUTPUT")) recorder.setOutput(key, value);
  }
  const state = readIfExists(paths.stateFile, maxKb * 1024, "$KILN_STATE");
  if (state !== null) {
    // A failed write is reported by recorder.settle().
    for (const [key, value] of parseKeyValueFile(state, "$KILN_STATE")) recorder.setState(key, value).catch(() => {});
  }
}
