import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { KilnError } from "../errors.ts";

/** What to start. `argv[0]` is the executable, looked up on the env's PATH; no shell is involved. */
export interface SpawnParams {
  readonly argv: readonly [string, ...string[]];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | undefined;
  /** Whether the child gets a stdin pipe (else /dev/null). */
  readonly stdin: boolean;
  /** Whether stderr is piped (else discarded). */
  readonly stderr: boolean;
}

/** How a process ended: an exit code, or the signal that killed it. */
export interface ProcessExit {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A started process, leader of its own process group (pgid = pid). */
export interface SpawnedProcess {
  readonly pid: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable | null;
  /** Resolves when the leader exits (its descendants may still run). */
  readonly exited: Promise<ProcessExit>;
  readonly child: ChildProcess;
}

/** Turns a spawn failure into a clear KilnError (EXEC_NOT_FOUND, EXEC_PERMISSION_DENIED, …). */
export function spawnError(error: NodeJS.ErrnoException, command: string): KilnError {
  switch (error.code) {
    case "ENOENT":
      return new KilnError(
        "EXEC_NOT_FOUND",
        `Cannot run "${command}": no such file or command on PATH (for a script, also check its #! interpreter)`,
        { cause: error },
      );
    case "EACCES":
    case "EPERM":
      return new KilnError(
        "EXEC_PERMISSION_DENIED",
        `Cannot run "${command}": permission denied (is it executable? chmod +x, and not a directory)`,
        { cause: error },
      );
    case "E2BIG":
      return new KilnError(
        "PAYLOAD_TOO_LARGE",
        `Cannot run "${command}": arguments and environment are too large; use input_format json_stdin or json_file`,
        { cause: error, retryable: false },
      );
    case "ENOEXEC":
      return new KilnError("EXEC_FAILED", `Cannot run "${command}": not an executable format (add a #! line)`, {
        cause: error,
        retryable: false,
      });
    default:
      return new KilnError("EXEC_FAILED", `Cannot run "${command}": ${error.message}`, { cause: error });
  }
}

/**
 * Starts a process in its own process group (detached, so a signal to `-pid` reaches all it
 * starts). Resolves once the process is running; rejects with spawnError's KilnError otherwise.
 */
export function spawnProcess(params: SpawnParams): Promise<SpawnedProcess> {
  const [file, ...args] = params.argv;
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      cwd: params.cwd,
      env: params.env,
      detached: true,
      shell: false,
      windowsHide: true,
      stdio: [params.stdin ? "pipe" : "ignore", "pipe", params.stderr ? "pipe" : "ignore"],
    });
  } catch (error) {
    // Synchronous failures: invalid arguments (e.g. a NUL byte), E2BIG on some platforms.
    return Promise.reject(spawnError(error as NodeJS.ErrnoException, file));
  }
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once("exit", (exitCode, signal) => resolve({ exitCode, signal }));
  });
  // A child that could not start has no pid (documented); its 'error' follows on the next tick.
  // One that did is running now: waiting for its 'spawn' event would only add a tick per attempt.
  if (child.pid === undefined) {
    return new Promise<SpawnedProcess>((_, reject) => {
      child.once("error", (error: NodeJS.ErrnoException) => reject(spawnError(error, file)));
    });
  }
  // Later errors (none expected: Kiln signals the group with process.kill) must not crash the worker.
  child.on("error", () => {});
  return Promise.resolve({
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout as Readable,
    stderr: child.stderr,
    exited,
    child,
  });
}
