import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as delay } from "node:timers/promises";

/**
 * Signals and reaps a script's whole process group. Every script is spawned as the leader of its
 * own group (detached), so `kill(-pgid)` reaches everything it started — unless a child called
 * setsid, which only a cgroup could contain.
 */

/** Sends a signal to every process of a group. Returns false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  // ESRCH, the common answer once a script exited, arrives as a thrown error; without a stack
  // trace it costs a few microseconds instead of about 0.1 ms per attempt.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** The live (non-zombie) processes of a group, read from /proc; null where /proc is unavailable. */
export function groupMembers(pgid: number): number[] | null {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }
  const members: number[] = [];
  for (const entry of entries) {
    const code = entry.charCodeAt(0);
    if (code < 48 || code > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "latin1");
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the parenthesized command name: state ppid pgrp …
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") members.push(Number(entry));
  }
  return members;
}

/** Whether any live process is left in the group. */
export function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  const members = groupMembers(pgid);
  // Without /proc, a group that can be signalled counts as alive (zombies included).
  return members === null ? true : members.length > 0;
}

/** Waits until the group is empty or `timeoutMs` passed; returns whether it is empty. */
export async function waitGroupEmpty(pgid: number, timeoutMs: number, pollMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (groupAlive(pgid)) {
    if (Date.now() >= deadline) return false;
    await delay(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
  return true;
}

/** How a group was stopped. */
export interface KillOutcome {
  /** Whether SIGKILL had to be sent (the group outlived SIGTERM and the grace period, or `force`). */
  readonly killed: boolean;
  /** Whether the group is gone now (false only for processes stuck in uninterruptible sleep). */
  readonly empty: boolean;
}

/**
 * Stops a whole group: SIGTERM, up to `graceMs` for it to exit, then SIGKILL. With `force`,
 * SIGKILL at once. Resolves when the group is empty (or SIGKILL did not empty it within 5 s).
 */
export async function killGroup(
  pgid: number,
  options: Readonly<{ graceMs: number; force?: boolean }>,
): Promise<KillOutcome> {
  if (!options.force) {
    if (!signalGroup(pgid, "SIGTERM")) return { killed: false, empty: true };
    // Stopped processes never see SIGTERM until continued.
    signalGroup(pgid, "SIGCONT");
    if (await waitGroupEmpty(pgid, options.graceMs)) return { killed: false, empty: true };
  }
  if (!signalGroup(pgid, "SIGKILL")) return { killed: options.force === true, empty: true };
  return { killed: true, empty: await waitGroupEmpty(pgid, 5000) };
}
