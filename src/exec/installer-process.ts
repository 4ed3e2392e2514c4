import { spawn } from "node:child_process";
import { KilnError } from "../errors.ts";
import { cancelError } from "./attempt-verdict.ts";
import { signalGroup } from "./kill-tree.ts";

/** The last bytes of an installer's output kept for its error. */
const TAIL_BYTES = 16 * 1024;

/** One command of an environment build or a source fetch. */
export interface InstallerCommand {
  readonly argv: readonly [string, ...string[]];
  readonly cwd?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Receives each output line (stdout and stderr), already masked. */
  readonly onLine: (line: string) => void;
  readonly mask: (text: string) => string;
  readonly signal?: AbortSignal;
  /** The error code of a failed exit. */
  readonly failureCode: "DEPENDENCY_BUILD_FAILED" | "SOURCE_FETCH_FAILED";
  /** What failed, for the message: "pip install", "git clone". */
  readonly what: string;
  /** Whether a failed exit may succeed when retried (a network fetch: yes). */
  readonly retryable: boolean;
}

/**
 * Runs an installer (python -m venv, pip, npm, git) in its own process group, streams its masked
 * output lines, and on a non-zero exit throws `failureCode` with the output's tail, so that the
 * run shows why its environment could not be built. An abort kills the whole group.
 */
export async function runInstaller(c: InstallerCommand): Promise<string> {
  if (c.signal?.aborted) throw cancelError(c.signal.reason);
  const [file, ...args] = c.argv;
  const child = spawn(file, args, {
    cwd: c.cwd,
    env: Object.fromEntries(Object.entries(c.env).filter(([, v]) => v !== undefined)) as Record<string, string>,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tail = "";
  let partial = { stdout: "", stderr: "" };
  const take = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
    const text = partial[stream] + chunk.toString("utf8");
    const lines = text.split(/\r?\n/);
    partial = { ...partial, [stream]: lines.pop() ?? "" };
    for (const line of lines) emit(line);
  };
  const emit = (raw: string) => {
    const line = c.mask(raw);
    tail = `${tail}${line}\n`.slice(-TAIL_BYTES);
    if (line.trim() !== "") c.onLine(line);
  };
  child.stdout.on("data", take("stdout"));
  child.stderr.on("data", take("stderr"));
  const abort = () => {
    if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
  };
  c.signal?.addEventListener("abort", abort, { once: true });
  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          new KilnError(c.failureCode, `Cannot run ${file} for ${c.what}: ${error.message}`, {
            retryable: false,
            cause: error,
          }),
        ),
      );
      child.once("close", (code, signal) => resolve({ code, signal }));
    });
    for (const rest of [partial.stdout, partial.stderr]) if (rest !== "") emit(rest);
    if (c.signal?.aborted) throw cancelError(c.signal.reason);
    if (exit.code !== 0) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
      const lastLines = tail.trimEnd().split("\n").slice(-20).join("\n");
      throw new KilnError(c.failureCode, `${c.what} ${how}:\n${lastLines}`, {
        retryable: c.retryable,
        data: { command: c.mask(c.argv.join(" ")), exitCode: exit.code, signal: exit.signal, output: tail },
      });
    }
    return tail;
  } finally {
    c.signal?.removeEventListener("abort", abort);
  }
}
