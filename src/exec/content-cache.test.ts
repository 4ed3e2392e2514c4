import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ContentCache } from "./content-cache.ts";

const CACHE_MODULE = new URL("./content-cache.ts", import.meta.url).pathname;

describe("ContentCache", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-cache-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fill = (bytes: number) => async (entry: string) => {
    writeFileSync(join(entry, "data"), Buffer.alloc(bytes, 1));
    return { bytes };
  };

  it("evicts the least recently used entries when the cache grows over its cap", async () => {
    const cache = new ContentCache({ root: join(dir, "lru"), maxSizeBytes: 100 * 1024 });
    const a = await cache.ensureEntry({ area: "x", key: "a", build: fill(40 * 1024) });
    const b = await cache.ensureEntry({ area: "x", key: "b", build: fill(40 * 1024) });
    // "a" is used again after "b": "b" is now the least recently used.
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(b.dir, ".kiln-entry.json"), past, past);
    assert.equal((await cache.ensureEntry({ area: "x", key: "a", build: fill(1) })).built, false);
    const c = await cache.ensureEntry({ area: "x", key: "c", build: fill(40 * 1024) });
    assert.ok(c.built);
    assert.ok(existsSync(a.dir), "the recently used entry stays");
    assert.ok(!existsSync(b.dir), "the least recently used entry is removed");
    assert.ok(existsSync(c.dir));
    const listed = await cache.listEntries();
    assert.deepEqual(listed.map((e) => e.key).sort(), ["a", "c"]);
    assert.ok(listed.reduce((s, e) => s + e.sizeBytes, 0) <= cache.maxSizeBytes);
  });

  it("an entry that a running attempt uses is not evicted, and is once released", async () => {
    const cache = new ContentCache({ root: join(dir, "in-use"), maxSizeBytes: 50 * 1024 });
    const a = await cache.ensureEntry({ area: "x", key: "a", build: fill(40 * 1024) });
    const release = cache.useEntry(a.dir);
    await cache.ensureEntry({ area: "x", key: "b", build: fill(40 * 1024) });
    assert.ok(existsSync(a.dir), "in use: kept over the cap");
    release();
    await cache.evictEntries();
    assert.ok(!existsSync(a.dir), "released: the least recently used entry goes");
  });

  it("a failed build leaves nothing behind and the next call builds again", async () => {
    const cache = new ContentCache({ root: join(dir, "fail"), maxSizeBytes: 1024 ** 3 });
    await assert.rejects(
      cache.ensureEntry({
        area: "x",
        key: "k",
        build: async () => {
          throw new Error("boom");
        },
      }),
      /boom/,
    );
    assert.ok(!existsSync(cache.entryDir("x", "k")));
    assert.ok(!existsSync(`${cache.entryDir("x", "k")}.lock`));
    assert.ok((await cache.ensureEntry({ area: "x", key: "k", build: fill(10) })).built);
  });

  it("a lock left by a dead builder is broken", async () => {
    const cache = new ContentCache({ root: join(dir, "stale"), maxSizeBytes: 1024 ** 3 });
    const dead = spawn(process.execPath, ["-e", ""]);
    const pid = dead.pid as number;
    await new Promise((r) => dead.once("exit", r));
    rmSync(cache.entryDir("x", "k"), { recursive: true, force: true });
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(cache.root, "x"), { recursive: true });
    writeFileSync(
      `${cache.entryDir("x", "k")}.lock`,
      JSON.stringify({ pid, host: (await import("node:os")).hostname(), at: 0 }),
    );
    assert.ok((await cache.ensureEntry({ area: "x", key: "k", build: fill(10) })).built);
  });

  it("worker processes racing on one key build it once", async () => {
    const root = join(dir, "race");
    const counter = join(dir, "builds.txt");
    writeFileSync(counter, "");
    const program = `
      import { appendFileSync } from "node:fs";
      const { ContentCache } = await import(${JSON.stringify(CACHE_MODULE)});
      const cache = new ContentCache({ root: ${JSON.stringify(root)}, maxSizeBytes: 1e9 });
      const entry = await cache.ensureEntry({ area: "x", key: "shared", build: async (d) => {
        appendFileSync(${JSON.stringify(counter)}, process.pid + "\\n");
        await new Promise((r) => setTimeout(r, 500));
        return { by: process.pid };
      }});
      console.log(JSON.stringify(entry.meta));
    `;
    const outputs = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", program]);
            let out = "";
            child.stdout.on("data", (c) => {
              out += c;
            });
            child.stderr.on("data", (c) => {
              out += c;
            });
            child.once("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(out))));
          }),
      ),
    );
    assert.equal(readFileSync(counter, "utf8").trim().split("\n").length, 1, "one process built");
    assert.equal(new Set(outputs).size, 1, outputs.join("\n"));
  });
});
