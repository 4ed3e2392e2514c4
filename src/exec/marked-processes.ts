import { readdirSync, readFileSync } from "node:fs";

/**
 * Finds processes by a variable in their environment. Every script gets `KILN_API_TOKEN` (random
 * per attempt) and `KILN_WORKER_ID` (random per worker process), which its children inherit
 * whatever they do to their process group or session: `setsid`, double forks and reparenting to
 * init leave the environment as it was. So the processes an attempt left behind can be found,
 * and killed, even after they escaped the group that timeouts and cancels signal.
 * (A process that clears its own environment escapes this too; only a cgroup would hold it.)
 */

/** The pids (other than this process) whose environment holds `NAME=value` exactly. */
export function processesWithEnv(name: string, value: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const needle = Buffer.from(`${name}=${value}\0`);
  const found: number[] = [];
  for (const entry of entries) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${entry}/environ`);
    } catch {
      continue; // exited meanwhile, or another user's
    }
    const at = environ.indexOf(needle);
    if (at === 0 || (at > 0 && environ[at - 1] === 0)) found.push(pid);
  }
  return found;
}

/** SIGKILLs every process whose environment holds `NAME=value`; returns how many were signalled. */
export function killProcessesWithEnv(name: string, value: string): number {
  let killed = 0;
  for (const pid of processesWithEnv(name, value)) {
    try {
      process.kill(pid, "SIGKILL");
      killed++;
    } catch {
      // Gone already.
    }
  }
  return killed;
}
