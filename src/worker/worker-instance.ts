import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Which process last ran a named worker on this machine, recorded in the data directory, so that a
 * restarted worker can take back at once the runs its previous process still leases instead of
 * waiting for the leases to expire (30 s by default).
 *
 * The rule: leases held under a worker name are released at start only when (1) this data
 * directory (so this machine) records an earlier process of the same worker name, namespace and
 * server, and (2) that process is gone (no such pid, or a pid reused by a process started at
 * another time). A second live process with the same name, or one on another machine, is never
 * released: its leases run out as usual.
 */
export interface WorkerInstance {
  readonly pid: number;
  /** The process start time from /proc (clock ticks since boot), where available. */
  readonly startTime?: string;
}

/** The file recording the instance of worker `name` for `namespace` on `server`. */
export function workerInstanceFile(dataDir: string, p: Readonly<{ server: string; namespace: string; name: string }>) {
  const key = createHash("sha256").update(`${p.server}\u0000${p.namespace}\u0000${p.name}`).digest("hex").slice(0, 32);
  return join(dataDir, "workers", `${key}.json`);
}

/**
 * Records this process as the worker's instance, and answers whether the previous recorded
 * instance is a process that is gone (so its leases may be released now).
 */
export function takeOverWorkerInstance(file: string): { previousGone: boolean } {
  let previous: WorkerInstance | undefined;
  try {
    previous = JSON.parse(readFileSync(file, "utf8")) as WorkerInstance;
  } catch {
    previous = undefined;
  }
  const own = ownInstance();
  mkdirSync(join(file, ".."), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, JSON.stringify(own), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  if (!previous || !Number.isSafeInteger(previous.pid) || previous.pid === process.pid) return { previousGone: false };
  return { previousGone: !isRunning(previous) };
}

/** This process as an instance record (pid and start time). */
export function ownInstance(): WorkerInstance {
  return { pid: process.pid, ...optional(startTimeOf(process.pid)) };
}

function optional(startTime: string | undefined): { startTime?: string } {
  return startTime === undefined ? {} : { startTime };
}

/** True when the recorded process still runs (same pid, and same start time where known). */
export function isRunning(instance: WorkerInstance): boolean {
  try {
    process.kill(instance.pid, 0);
  } catch (error) {
    // EPERM: a process exists that we may not signal.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  const now = startTimeOf(instance.pid);
  // The pid was reused by another process when its start time differs.
  return instance.startTime === undefined || now === undefined || now === instance.startTime;
}

/** Field 22 of /proc/PID/stat (after the parenthesized command name), or undefined off Linux. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
