import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
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
  /**
   * The attempt's own directory (sandboxed attempts only, null otherwise): the sandbox mounts it
   * alone, not the shared one, and the local API socket onto `socket` inside it.
   */
  readonly dir: string | null;
  /** The real local API socket (the same as `socket` unless the attempt has its own directory). */
  readonly apiSocket: string;
}

// The per-attempt file operations here are tiny and synchronous on purpose: a thread-pool round
// trip each would add about a millisecond to every task (issue 3 budgets 1 ms of overhead).

/**
 * The paths of a new attempt. Nothing is created: `$KILN_OUTPUT` and `$KILN_STATE` are created by
 * the script's first `>>`, if it writes them, in the space's private 0700 directory.
 */
export function attemptPaths(space: AttemptSpace, ownDirectory = false): AttemptPaths {
  const prefix = join(space.dir, space.nextPrefix());
  if (!ownDirectory) {
    return {
      socket: space.api.socketPath,
      outputFile: `${prefix}output.env`,
      stateFile: `${prefix}state.env`,
      resultFile: `${prefix}result.json`,
      inputFile: `${prefix}input.json`,
      dir: null,
      apiSocket: space.api.socketPath,
    };
  }
  const dir = `${prefix}d`;
  mkdirSync(dir, { mode: 0o700 });
  const socket = join(dir, "api.sock");
  // The mount point of the real socket inside the sandbox.
  writeFileSync(socket, "", { mode: 0o600 });
  return {
    socket,
    outputFile: join(dir, "output.env"),
    stateFile: join(dir, "state.env"),
    resultFile: join(dir, "result.json"),
    inputFile: join(dir, "input.json"),
    dir,
    apiSocket: space.api.socketPath,
  };
}

// Expected misses are checked, not caught: a thrown fs error costs more than the call itself.

/**
 * Removes whichever of the attempt's files exist (the input and result files only where the kind
 * uses them). `$KILN_OUTPUT` and `$KILN_STATE` are already gone once applyKeyValueFiles read them.
 */
export function removeAttemptFiles(paths: AttemptPaths, kind: ResolvedTaskKind, keyValueFilesApplied: boolean): void {
  if (paths.dir !== null) {
    rmSync(paths.dir, { recursive: true, force: true });
    return;
  }
  if (!keyValueFilesApplied) {
    removeIfExists(paths.outputFile);
    removeIfExists(paths.stateFile);
  }
  if (kind.inputFormat === "json_file") removeIfExists(paths.inputFile);
  if (kind.outputFormat === "file" && kind.outputFile === null) removeIfExists(paths.resultFile);
}

function removeIfExists(file: string): void {
  if (existsSync(file)) unlinkSync(file);
}

/** Reads and removes a file the script may have written; null when it did not. */
function takeIfExists(file: string): Buffer | null {
  if (!existsSync(file)) return null;
  const bytes = readFileSync(file);
  unlinkSync(file);
  return bytes;
}

function checkedText(bytes: Buffer, maxBytes: number, name: string): string {
  if (bytes.length > maxBytes) {
    throw new KilnError(
      "OUTPUT_TOO_LARGE",
      `${name} is ${formatSize(bytes.length)}, over max_output_size_kb ${maxBytes / 1024}`,
      { retryable: false },
    );
  }
  return bytes.toString("utf8");
}

/**
 * Applies the `$KILN_OUTPUT` and `$KILN_STATE` files a script wrote (capped like the output), and
 * removes them (both, even when one is refused): they are read once, after the script's whole
 * process group is gone.
 */
export function applyKeyValueFiles(paths: AttemptPaths, recorder: AttemptRecorder, maxKb: number): void {
  const output = takeIfExists(paths.outputFile);
  const state = takeIfExists(paths.stateFile);
  if (output !== null) {
    const text = checkedText(output, maxKb * 1024, "$KILN_OUTPUT");
    for (const [key, value] of parseKeyValueFile(text, "$KILN_OUTPUT")) recorder.setOutput(key, value);
  }
  if (state !== null) {
    const text = checkedText(state, maxKb * 1024, "$KILN_STATE");
    // A failed write is reported by recorder.settle().
    for (const [key, value] of parseKeyValueFile(text, "$KILN_STATE")) recorder.setState(key, value).catch(() => {});
  }
}
