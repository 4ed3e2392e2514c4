import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../../tests/support/test-db.ts";
import { hasCode } from "../../errors.ts";
import type { Store } from "../store.ts";
import { storeContract } from "../store.contract.ts";
import { SqliteStore } from "./sqlite-store.ts";

const open = new Map<Store, TestStore>();

storeContract("sqlite", {
  open: async (options) => {
    const t = await openTestSqlite(options);
    open.set(t.store, t);
    return t.store;
  },
  close: async (store) => {
    await open.get(store)?.close();
    open.delete(store);
  },
});

describe("SqliteStore.open", () => {
  it("keeps the database, its WAL and SHM files 0600 and the directory it creates 0700", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-sqlite-"));
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    try {
      const path = join(dir, "data", "kiln.db");
      const store = await SqliteStore.open(path);
      await store.startRun({ namespace: "ns", type: "task", name: "t" });
      assert.equal(mode(join(dir, "data")), "700");
      assert.deepEqual([path, `${path}-wal`, `${path}-shm`].map(mode), ["600", "600", "600"]);
      await store.close();
      // A database left world-readable by an older version is tightened when opened.
      chmodSync(path, 0o644);
      const again = await SqliteStore.open(path);
      await again.startRun({ namespace: "ns", type: "task", name: "t" });
      assert.deepEqual([path, `${path}-wal`, `${path}-shm`].map(mode), ["600", "600", "600"]);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("creates the file and its directory, in WAL mode, and reopens it migrated", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-sqlite-"));
    try {
      const path = join(dir, "nested", "kiln.db");
      const first = await SqliteStore.open(path);
      const { run } = await first.startRun({ namespace: "ns", type: "task", name: "t" });
      await first.close();
      const again = await SqliteStore.open(path);
      assert.equal((await again.getRun({ namespace: "ns", id: run.id }))?.id, run.id);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says what to check when the file cannot be opened", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-sqlite-"));
    try {
      const notADirectory = join(dir, "plain-file");
      writeFileSync(notADirectory, "");
      await assert.rejects(SqliteStore.open(join(notADirectory, "kiln.db")), (e) => {
        assert.ok(hasCode(e, "STORE_UNAVAILABLE"));
        assert.match((e as Error).message, /plain-file/);
        assert.match((e as Error).message, /Check that/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lets two stores on one file see each other's notifications", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-sqlite-"));
    try {
      const path = join(dir, "kiln.db");
      const a = await SqliteStore.open(path);
      const b = await SqliteStore.open(path);
      const seen: string[] = [];
      const unsubscribe = await b.subscribe((n) => seen.push(n.queue));
      await a.startRun({ namespace: "ns", type: "task", name: "t", queue: "q" });
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(seen, ["q"]);
      await unsubscribe();
      await a.close();
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
