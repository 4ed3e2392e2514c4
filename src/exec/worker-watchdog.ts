import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

/** The value of `KILN_WORKER_ID` this process gives its scripts: `<pid>.<random>`. */
export const WORKER_ID = `${process.pid}.${randomBytes(6).toString("hex")}`;

const SCRIPT = fileURLToPath(new URL("./worker-watchdog.mjs", import.meta.url));
let started = false;

/**
 * Starts this worker process's watchdog (once; see worker-watchdog.mjs): when this process dies,
 * however it dies, the watchdog kills the scripts it started. Neither the child nor its pipe keep
 * this process alive. Without /proc (not Linux) there is nothing to watch with, so nothing starts.
 */
export function ensureWorkerWatchdog(): void {
  if (started || process.platform !== "linux") return;
  started = true;
  try {
    const child = spawn(process.execPath, [SCRIPT, WORKER_ID], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    });
    child.on("error", () => {});
    child.stdin?.on("error", () => {});
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  } catch {
    // The watchdog is a second line of defence: attempts still kill their own processes.
  }
}
