import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { cancelError } from "./attempt-verdict.ts";

/** The marker that makes an entry complete: written last, by rename, so a half-built entry never has one. */
const MARKER = ".kiln-entry.json";
const LOCK_POLL_MS = 150;
/**
 * Entry directories that running attempts of this process use, with how many use each: shared by
 * every ContentCache object, since a config reload makes new ones while old attempts still run.
 */
const IN_USE = new Map<string, number>();
/** A lock file left empty this long was abandoned between creating and writing it. */
const EMPTY_LOCK_STALE_MS = 30_000;

/** What filling the cache for one attempt of a task kind needs: where, what to log, what to hide. */
export interface CacheWorkParams {
  readonly kind: string;
  readonly cache: ContentCache;
  /** Logs on the run: installer output, cache hits. */
  readonly log: (level: "info" | "warning", message: string) => void;
  readonly mask: (text: string) => string;
  /** The worker's environment (PATH, HOME, PIP_INDEX_URL, proxies) that installers run with. */
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
}

/** One complete cache entry. */
export interface CacheEntry {
  /** The entry's directory: whatever the build put there. */
  readonly dir: string;
  /** What the build returned, kept in the marker. */
  readonly meta: Readonly<Record<string, unknown>>;
  /** Whether this call built it (false: it was there, or another process built it meanwhile). */
  readonly built: boolean;
}

/** What `ensureEntry` builds when the entry is missing. */
export interface EnsureEntryParams {
  /** A sub-directory per kind of content ("python", "node", "git", "http", "s3"). */
  readonly area: string;
  /** The content hash (a file-name-safe string) the entry is stored under. */
  readonly key: string;
  /** Fills `dir` (created empty) and returns metadata kept with the entry; a throw discards the dir. */
  readonly build: (dir: string) => Promise<Readonly<Record<string, unknown>>>;
  readonly signal?: AbortSignal;
  /** Called once when another build of the same key (in any process) is awaited. */
  readonly onWait?: () => void;
}

/** One entry as eviction sees it. */
export interface CacheListing {
  readonly area: string;
  readonly key: string;
  readonly dir: string;
  readonly sizeBytes: number;
  /** The last use (the marker's mtime, touched on every hit). */
  readonly usedAt: number;
}

/**
 * A directory of content-addressed entries shared by every worker process on a machine: an entry
 * is built at most once per key (an exclusive lock file, `open(…, "wx")`, taken by one builder;
 * the others wait for its marker), reused forever after, and the least recently used entries are
 * removed when the whole cache grows over its size cap.
 */
export class ContentCache {
  readonly root: string;
  readonly maxSizeBytes: number;
  constructor(p: Readonly<{ root: string; maxSizeBytes: number }>) {
    this.root = p.root;
    this.maxSizeBytes = p.maxSizeBytes;
  }

  /** Marks an entry as used by a running attempt until the returned function is called: eviction skips it. */
  useEntry(dir: string): () => void {
    IN_USE.set(dir, (IN_USE.get(dir) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (IN_USE.get(dir) ?? 1) - 1;
      if (left === 0) IN_USE.delete(dir);
      else IN_USE.set(dir, left);
    };
  }

  /** The directory of an entry (complete or not). */
  entryDir(area: string, key: string): string {
    return join(this.root, area, key);
  }

  /** The complete entry of a key, or null; a hit counts as a use for LRU. */
  async findEntry(area: string, key: string): Promise<CacheEntry | null> {
    const dir = this.entryDir(area, key);
    const marker = join(dir, MARKER);
    let text: string;
    try {
      text = await readFile(marker, "utf8");
    } catch {
      return null;
    }
    const now = new Date();
    await utimes(marker, now, now).catch(() => {});
    return { dir, meta: (JSON.parse(text) as { meta: Record<string, unknown> }).meta, built: false };
  }

  /** Returns the entry of a key, building it under the key's lock when no complete one exists. */
  async ensureEntry(p: EnsureEntryParams): Promise<CacheEntry> {
    const lock = `${this.entryDir(p.area, p.key)}.lock`;
    let waited = false;
    for (;;) {
      if (p.signal?.aborted) throw cancelError(p.signal.reason);
      const found = await this.findEntry(p.area, p.key);
      if (found) return found;
      await mkdir(join(this.root, p.area), { recursive: true });
      if (await takeLock(lock)) {
        try {
          // Another builder may have finished between the look-up and the lock.
          const done = await this.findEntry(p.area, p.key);
          if (done) return done;
          const entry = await this.#build(p);
          await this.evictEntries({ keep: [entry.dir] });
          return entry;
        } finally {
          await unlink(lock).catch(() => {});
        }
      }
      if (await breakStaleLock(lock)) continue;
      if (!waited) p.onWait?.();
      waited = true;
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
  }

  async #build(p: EnsureEntryParams): Promise<CacheEntry> {
    const dir = this.entryDir(p.area, p.key);
    // Leftovers of a builder that died mid-way.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    try {
      const meta = await p.build(dir);
      const sizeBytes = await diskUsage(dir);
      const marker = join(dir, MARKER);
      await writeFile(`${marker}.tmp`, JSON.stringify({ meta, sizeBytes, builtAt: Date.now() }));
      await rename(`${marker}.tmp`, marker);
      return { dir, meta, built: true };
    } catch (error) {
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      throw error;
    }
  }

  /** Every complete entry, least recently used first. */
  async listEntries(): Promise<CacheListing[]> {
    const entries: CacheListing[] = [];
    for (const area of await readdirOrEmpty(this.root)) {
      if (area.startsWith(".")) continue;
      for (const key of await readdirOrEmpty(join(this.root, area))) {
        const dir = join(this.root, area, key);
        try {
          const marker = join(dir, MARKER);
          const [text, info] = await Promise.all([readFile(marker, "utf8"), stat(marker)]);
          const sizeBytes = Number((JSON.parse(text) as { sizeBytes?: number }).sizeBytes ?? 0);
          entries.push({ area, key, dir, sizeBytes, usedAt: info.mtimeMs });
        } catch {
          // Not an entry: a lock file, or one being built.
        }
      }
    }
    return entries.sort((a, b) => a.usedAt - b.usedAt);
  }

  /**
   * Removes least recently used entries until the cache fits its cap. Entries in `keep`, entries
   * this process's attempts use (`useEntry`) and entries whose key is locked (being rebuilt) stay.
   * Returns what was removed.
   */
  async evictEntries(p: Readonly<{ keep?: readonly string[] }> = {}): Promise<CacheListing[]> {
    const entries = await this.listEntries();
    let total = entries.reduce((sum, e) => sum + e.sizeBytes, 0);
    const removed: CacheListing[] = [];
    for (const entry of entries) {
      if (total <= this.maxSizeBytes) break;
      if (p.keep?.includes(entry.dir) || IN_USE.has(entry.dir)) continue;
      if (await exists(`${entry.dir}.lock`)) continue;
      // Renamed away first, so no reader ever sees a half-deleted entry with its marker.
      const trash = join(this.root, ".trash", `${entry.key}-${randomBytes(4).toString("hex")}`);
      await mkdir(join(this.root, ".trash"), { recursive: true });
      try {
        await rename(entry.dir, trash);
      } catch {
        continue;
      }
      await rm(trash, { recursive: true, force: true });
      total -= entry.sizeBytes;
      removed.push(entry);
    }
    return removed;
  }
}

/** What a lock file records: who builds, so a waiter can tell a dead builder from a slow one. */
interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly at: number;
}

async function takeLock(lock: string): Promise<boolean> {
  try {
    const handle = await open(lock, "wx");
    const owner: LockOwner = { pid: process.pid, host: hostname(), at: Date.now() };
    await handle.writeFile(JSON.stringify(owner));
    await handle.close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/**
 * Removes the lock of a builder that died (its pid is gone on this host). The lock is renamed
 * away before it is judged, so a fresh lock taken by another waiter meanwhile is put back, never
 * deleted.
 */
async function breakStaleLock(lock: string): Promise<boolean> {
  if (!(await isStale(lock))) return false;
  const aside = `${lock}.stale-${randomBytes(4).toString("hex")}`;
  try {
    await rename(lock, aside);
  } catch {
    return true;
  }
  if (await isStale(aside)) {
    await unlink(aside).catch(() => {});
  } else {
    // Someone else's fresh lock: put it back, unless yet another lock took its place.
    await rename(aside, lock).catch(() => unlink(aside).catch(() => {}));
  }
  return true;
}

async function isStale(lock: string): Promise<boolean> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, mtimeMs] = await Promise.all([readFile(lock, "utf8"), stat(lock).then((s) => s.mtimeMs)]);
  } catch {
    return false;
  }
  if (text === "") return Date.now() - mtimeMs > EMPTY_LOCK_STALE_MS;
  let owner: LockOwner;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    return Date.now() - mtimeMs > EMPTY_LOCK_STALE_MS;
  }
  if (owner.host !== hostname() || owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Bytes a directory tree takes on disk (allocated blocks, so sparse and tiny files count right). */
export async function diskUsage(path: string): Promise<number> {
  const info = await lstat(path);
  let total = info.blocks > 0 ? info.blocks * 512 : info.size;
  if (info.isDirectory()) {
    for (const name of await readdir(path)) total += await diskUsage(join(path, name));
  }
  return total;
}
