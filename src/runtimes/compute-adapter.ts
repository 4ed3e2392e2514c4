import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { HostRuntime } from "./protocol.ts";

/** What a compute adapter needs to start one host process. */
export interface HostSpawnParams {
  readonly runtime: HostRuntime;
  /** The directory deployed code resolves its imports from; the host starts there. */
  readonly directory: string;
}

/** A started host process: its stdio (the protocol channel) and how to stop it. */
export interface SpawnedHost {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly pid: number | undefined;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null }>;
  /** CPU time (user + system, ms) the process used so far, or null when it cannot be measured. */
  cpuTimeMs(): number | null;
  /** Kills the host (and whatever it started) at once. */
  kill(): void;
}

/**
 * Where workflow host processes run. `exec` (local processes) is the default; `docker` runs each
 * host in a container. Remote or serverless adapters fit the same shape: a duplex line channel
 * to one host, and a way to kill it.
 */
export interface ComputeAdapter {
  readonly name: string;
  /** Whether hosts can be started here (the docker adapter asks the engine). */
  available(): Promise<boolean>;
  spawnHost(p: Readonly<HostSpawnParams>): SpawnedHost;
}

/** Options of the exec adapter. */
export interface ExecAdapterOptions {
  /** The Python interpreter. Default `/usr/bin/python3` when it exists, else `python3`. */
  readonly python?: string;
  /** The Node binary. Default: the one running the worker. */
  readonly node?: string;
  /** Extra environment for hosts (added to the worker's). */
  readonly env?: Readonly<Record<string, string>>;
}

/** The directory of the `kiln_runtime` Python package shipped with Kiln. */
export const PYTHON_RUNTIME_DIR = fileURLToPath(new URL("../../python", import.meta.url));

/** The entry script of the Node host: its TypeScript source in a clone, its compiled file in dist/. */
export const NODE_HOST_MAIN = fileURLToPath(
  new URL(`./node/host-main${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url),
);

/** The default Python interpreter: `/usr/bin/python3` when it exists (fast), else `python3`. */
export function defaultPython(): string {
  return existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

/** The command line of a host: `[command, ...args]`. */
export function hostCommand(runtime: HostRuntime, options: Readonly<ExecAdapterOptions> = {}): string[] {
  if (runtime === "python") return [options.python ?? defaultPython(), "-u", "-m", "kiln_runtime"];
  return [
    options.node ?? process.execPath,
    "--import",
    import.meta.resolve("tsx"),
    "--enable-source-maps",
    NODE_HOST_MAIN,
  ];
}

/** The environment of a host process. */
export function hostEnv(options: Readonly<ExecAdapterOptions> = {}): NodeJS.ProcessEnv {
  const path = process.env.PYTHONPATH;
  return {
    ...process.env,
    ...options.env,
    PYTHONPATH: path ? `${PYTHON_RUNTIME_DIR}:${path}` : PYTHON_RUNTIME_DIR,
    PYTHONIOENCODING: "utf-8",
    PYTHONDONTWRITEBYTECODE: "1",
  };
}

/** Runs hosts as local child processes, each in its own process group. */
export function execAdapter(options: Readonly<ExecAdapterOptions> = {}): ComputeAdapter {
  return {
    name: "exec",
    available: async () => true,
    spawnHost: (p) => {
      const [command, ...args] = hostCommand(p.runtime, options);
      // The Node host's code cache: made and removed here, so a host killed (SIGKILL after a
      // hang, or at shutdown) leaves nothing in the temp directory.
      const cacheDir = p.runtime === "node" ? mkdtempSync(join(tmpdir(), "kiln-host-")) : undefined;
      const child = spawn(command as string, args, {
        cwd: p.directory,
        env: { ...hostEnv(options), ...(cacheDir ? { KILN_HOST_CACHE_DIR: cacheDir } : {}) },
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
      });
      const spawned = wrapChild(child, () => killGroup(child));
      if (cacheDir) void spawned.exited.then(() => rmSync(cacheDir, { recursive: true, force: true }));
      return spawned;
    },
  };
}

/** Wraps a child process as a SpawnedHost. */
export function wrapChild(child: ChildProcess, kill: () => void, measureCpu = true): SpawnedHost {
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  child.stdin?.on("error", () => {}); // EPIPE after a crash is reported through `exited`.
  return {
    stdin: child.stdin as Writable,
    stdout: child.stdout as Readable,
    stderr: child.stderr as Readable,
    pid: child.pid,
    exited,
    cpuTimeMs: () => (measureCpu && child.pid !== undefined ? procCpuTimeMs(child.pid) : null),
    kill,
  };
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    child.kill("SIGKILL");
  }
}

/** CPU time of a process from /proc (Linux), in ms; null elsewhere or once it is gone. */
export function procCpuTimeMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After the command name: state is field 3, utime 14 and stime 15 (clock ticks, 100 Hz).
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}
