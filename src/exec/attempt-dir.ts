import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KilnError } from "../errors.ts";
import type { AttemptRecorder } from "./attempt-recorder.ts";
import { formatSize } from "./bounded-lines.ts";
import { parseKeyValueFile } from "./output-files.ts";

/** The files and socket of one attempt, in its private directory. */
export interface AttemptPaths {
  readonly dir: string;
  /** `$KILN_API_SOCKET`. */
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

// A Unix socket path must fit in sockaddr_un (108 bytes on Linux, 104 on macOS).
const MAX_SOCKET_PATH = 100;

// The per-attempt file operations here are tiny and synchronous on purpose: a thread-pool round
// trip each would add about a millisecond to every task (issue 3 budgets 1 ms of overhead).

/** Creates the attempt's private directory (0700, so only this user reaches the socket and files). */
export function makeAttemptDir(tempDir: string | undefined): AttemptPaths {
  let base = tempDir ?? tmpdir();
  if (join(base, "kiln-XXXXXX", "api.sock").length > MAX_SOCKET_PATH) base = "/tmp";
  const dir = mkdtempSync(join(base, "kiln-"));
  // $KILN_OUTPUT and $KILN_STATE are created by the script's first `>>`, if it writes them.
  return {
    dir,
    socket: join(dir, "api.sock"),
    outputFile: join(dir, "output.env"),
    stateFile: join(dir, "state.env"),
    resultFile: join(dir, "result.json"),
    inputFile: join(dir, "input.json"),
  };
}

// Expected misses are checked, not caught: a thrown fs error costs more than the call itself.

/** Removes the attempt's directory: its files one by one (cheap), anything else recursively. */
export function removeAttemptDir(paths: AttemptPaths): void {
  try {
    for (const name of readdirSync(paths.dir)) unlinkSync(join(paths.dir, name));
    rmdirSync(paths.dir);
  } catch {
    rmSync(paths.dir, { recursive: true, force: true });
  }
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
