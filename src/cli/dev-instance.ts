import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../errors.ts";
import { isRunning, ownInstance, type WorkerInstance } from "../worker/worker-instance.ts";

/**
 * The `kiln dev` serving a data directory, recorded in `<data>/dev.json`: its process (so a second
 * `kiln dev` on the same directory refuses to start instead of sharing the SQLite file and the
 * worker name) and its URL (so the CLI beside it finds a `--port` other than the default).
 */
export interface DevInstance extends WorkerInstance {
  /** The URL it listens on; absent while it is starting. */
  readonly url?: string;
}

/** The file recording the `kiln dev` of `dataDir`. */
export function devInstanceFile(dataDir: string): string {
  return join(dataDir, "dev.json");
}

/** The live `kiln dev` recorded in `dataDir`, or undefined (none, or its process is gone). */
export function readDevInstance(dataDir: string): DevInstance | undefined {
  let recorded: DevInstance;
  try {
    recorded = JSON.parse(readFileSync(devInstanceFile(dataDir), "utf8")) as DevInstance;
  } catch {
    return undefined;
  }
  if (!Number.isSafeInteger(recorded.pid) || !isRunning(recorded)) return undefined;
  return recorded;
}

/** A claim on a data directory: record the URL once listening, release it at shutdown. */
export interface DevClaim {
  recordUrl(url: string): void;
  release(): void;
}

/**
 * Claims `dataDir` for this `kiln dev`, or throws DEV_ALREADY_RUNNING naming the running one.
 * A record left by a process that is gone (killed, crashed) is taken over.
 */
export function claimDevDataDir(dataDir: string): DevClaim {
  const file = devInstanceFile(dataDir);
  const other = readDevInstance(dataDir);
  if (other && other.pid !== process.pid) {
    throw new KilnError(
      "DEV_ALREADY_RUNNING",
      `Another kiln dev (pid ${other.pid}${other.url ? `, ${other.url}` : ""}) already uses the data directory ${dataDir}; ` +
        "stop it, or pass --data <another directory> to run a second one",
      { data: { pid: other.pid, ...(other.url ? { url: other.url } : {}) } },
    );
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const write = (record: DevInstance) => writeFileSync(file, JSON.stringify(record), { mode: 0o600 });
  const own = ownInstance();
  write(own);
  return {
    recordUrl: (url) => write({ ...own, url }),
    release: () => {
      // Only our own record: never remove the claim of a process that took over after us.
      if (existsSync(file) && readDevInstance(dataDir)?.pid === process.pid) rmSync(file, { force: true });
    },
  };
}
