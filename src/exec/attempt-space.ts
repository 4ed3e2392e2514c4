import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalApiServer, startLocalApi } from "./local-api.ts";

/**
 * Where a process's attempts live: one private directory (0700) holding the local API socket and
 * the attempts' files, and the local API server on that socket. Both are made once per process
 * (per temp dir) and shared by all attempts: a directory and a listening socket per attempt cost
 * about 0.7 ms of the worker's CPU each time, more than the rest of an attempt's own work.
 */
export interface AttemptSpace {
  readonly dir: string;
  readonly api: LocalApiServer;
  /** The next attempt's file-name prefix, unique within the directory. */
  nextPrefix(): string;
}

// A Unix socket path must fit in sockaddr_un (108 bytes on Linux, 104 on macOS).
const MAX_SOCKET_PATH = 100;
const SOCKET_NAME = "api.sock";

// How often an attempt checks that the socket is still there (a temp cleaner may remove it).
const CHECK_EVERY_MS = 1000;

const spaces = new Map<string, Promise<AttemptSpace>>();
const opened = new Map<string, AttemptSpace>();
const checkedAt = new WeakMap<AttemptSpace, number>();
const dirs = new Set<string>();
let exitHook = false;

function removeDirs(): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

async function openSpace(base: string): Promise<AttemptSpace> {
  const root = join(base, "kiln-XXXXXX", SOCKET_NAME).length > MAX_SOCKET_PATH ? "/tmp" : base;
  const dir = mkdtempSync(join(root, "kiln-"));
  dirs.add(dir);
  if (!exitHook) {
    exitHook = true;
    process.once("exit", removeDirs);
  }
  try {
    const api = await startLocalApi(join(dir, SOCKET_NAME));
    let count = 0;
    return { dir, api, nextPrefix: () => `attempt-${++count}.` };
  } catch (error) {
    dirs.delete(dir);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function stillThere(space: AttemptSpace): boolean {
  const now = Date.now();
  if (now - (checkedAt.get(space) ?? 0) < CHECK_EVERY_MS) return true;
  checkedAt.set(space, now);
  return existsSync(space.api.socketPath);
}

/**
 * The attempt space of this process for a temp dir (default: the OS temp dir), made on first use;
 * an opened space is returned as is, not as a promise. A space whose socket disappeared (a temp
 * cleaner, a test removing its dir) is replaced; that is checked at most once a second, so an
 * attempt right after the removal may still fail.
 */
export function attemptSpace(tempDir: string | undefined): AttemptSpace | Promise<AttemptSpace> {
  // The default is keyed as "": os.tmpdir() reads three environment variables on every call.
  const key = tempDir ?? "";
  const space = opened.get(key);
  if (space !== undefined && stillThere(space)) return space;
  return openOrReplace(key, tempDir);
}

async function openOrReplace(key: string, tempDir: string | undefined): Promise<AttemptSpace> {
  const existing = spaces.get(key);
  if (existing !== undefined) {
    const space = await existing.catch(() => null);
    // Checked without the throttle: attemptSpace may have just found the socket gone.
    if (space !== null && existsSync(space.api.socketPath)) return space;
    if (spaces.get(key) === existing) {
      spaces.delete(key);
      opened.delete(key);
      if (space !== null) {
        dirs.delete(space.dir);
        void space.api.close();
        rmSync(space.dir, { recursive: true, force: true });
      }
    }
    return openOrReplace(key, tempDir);
  }
  const opening = openSpace(tempDir ?? tmpdir());
  spaces.set(key, opening);
  opening.then(
    (space) => {
      if (spaces.get(key) === opening) opened.set(key, space);
    },
    () => {
      if (spaces.get(key) === opening) spaces.delete(key);
    },
  );
  return opening;
}
