import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { KilnError } from "../../errors.ts";
import type { ObjectEntry, ObjectStore, StoredObject } from "./object-store.ts";

/** Keys are relative paths: no leading slash, no `.`/`..` segments, no backslashes or NUL. */
export function checkKey(key: string): string {
  const segments = key.split("/");
  if (key === "" || key.startsWith("/") || /[\\\0]/.test(key) || segments.some((s) => s === "." || s === "..")) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected a storage key like "reports/2024/a.json" (no leading /, no . or .. segments), got "${key}"`,
    );
  }
  return key;
}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT";

/** Objects as files under a root directory (created on first write); keys are relative paths. */
export class LocalObjectStore implements ObjectStore {
  readonly #root: string;
  readonly location: string;

  constructor(root: string) {
    this.#root = resolve(root);
    this.location = `file://${this.#root}`;
  }

  #path(key: string): string {
    const path = resolve(this.#root, checkKey(key));
    // resolve() of a checked key cannot climb out, but a symlinked root must not make it look so.
    if (!path.startsWith(this.#root + sep)) throw new KilnError("INVALID_INPUT", `The key "${key}" leaves the store`);
    return path;
  }

  async putObject(p: Readonly<{ key: string; body: Buffer }>): Promise<void> {
    const path = this.#path(p.key);
    await mkdir(dirname(path), { recursive: true });
    // Write then rename, so a reader never sees half an object after a crash.
    const partial = `${path}.kiln-partial-${process.pid}`;
    await writeFile(partial, p.body);
    await rename(partial, path);
  }

  async getObject(p: Readonly<{ key: string }>): Promise<StoredObject | undefined> {
    try {
      return { body: await readFile(this.#path(p.key)), contentType: null, sha256: null };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async listObjects(p: Readonly<{ prefix: string; limit: number }>): Promise<ObjectEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.#root, { recursive: true });
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
    const keys = names
      .map((name) => name.split(sep).join("/"))
      .filter((key) => key.startsWith(p.prefix) && !key.includes(".kiln-partial-"))
      .sort();
    const out: ObjectEntry[] = [];
    for (const key of keys) {
      if (out.length >= p.limit) break;
      const info = await stat(join(this.#root, key));
      if (info.isFile()) out.push({ key, size: info.size, modified_at: info.mtime.toISOString() });
    }
    return out;
  }

  async deleteObject(p: Readonly<{ key: string }>): Promise<boolean> {
    const path = this.#path(p.key);
    try {
      await stat(path);
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
    await rm(path);
    return true;
  }
}
