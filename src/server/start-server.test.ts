import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../tests/support/test-db.ts";
import { hasCode } from "../errors.ts";
import { Housekeeper } from "./housekeeper.ts";
import { silentLogger } from "./logger.ts";
import { startServer } from "./start-server.ts";

describe("startServer", () => {
  let db: TestStore;
  let dataDir: string;
  beforeEach(async () => {
    db = await openTestSqlite();
    dataDir = mkdtempSync(join(tmpdir(), "kiln-start-"));
  });
  afterEach(async () => {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (extra: Partial<Parameters<typeof startServer>[0]> = {}) =>
    startServer({ store: db.store, dataDir, port: 0, logger: silentLogger(), ...extra });

  it("refuses to serve a non-loopback address without auth", async () => {
    await assert.rejects(
      start({ host: "0.0.0.0", auth: "loopback-open" }),
      (e) => hasCode(e, "INVALID_CONFIG") && /Refusing to listen on 0\.0\.0\.0/.test((e as Error).message),
    );
  });

  it("writes a working * admin token (0600) on first start and keeps it on the next", async () => {
    const first = await start();
    try {
      assert.equal(first.adminTokenPath, join(dataDir, "admin-token"));
      assert.equal(statSync(join(dataDir, "admin-token")).mode & 0o777, 0o600);
      const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
      const who = await fetch(`${first.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual(
        await who.json().then((b) => [(b as { role: string }).role, (b as { tokenNamespace: string }).tokenNamespace]),
        ["admin", "*"],
      );
      const unauthenticated = await fetch(`${first.url}/v1/runs`);
      assert.equal(unauthenticated.status, 401);
      const body = await unauthenticated.text();
      assert.ok(
        !body.includes(dataDir) && !body.includes("admin-token"),
        `the 401 must not reveal the token file: ${body}`,
      );
      assert.match(body, /data directory/, "the 401 says how a local CLI finds the admin token");
    } finally {
      await first.close();
    }
    const before = readFileSync(join(dataDir, "admin-token"), "utf8");
    const second = await start();
    await second.close();
    assert.equal(readFileSync(join(dataDir, "admin-token"), "utf8"), before);
    // A fresh database does not know the old token: a new one is written.
    const fresh = await openTestSqlite();
    const third = await startServer({ store: fresh.store, dataDir, port: 0, logger: silentLogger() });
    await third.close();
    await fresh.close();
    assert.notEqual(readFileSync(join(dataDir, "admin-token"), "utf8"), before);
  });

  it("lets loopback requests without a token act as admin in loopback-open mode", async () => {
    const server = await start({ auth: "loopback-open" });
    try {
      const who = await fetch(`${server.url}/v1/whoami`);
      assert.equal(who.status, 200);
      assert.equal(((await who.json()) as { role: string }).role, "admin");
      const viewer = (await db.store.createToken({ name: "v", namespace: "default", role: "viewer" })).plaintext;
      const asViewer = await fetch(`${server.url}/v1/tokens`, { headers: { authorization: `Bearer ${viewer}` } });
      assert.equal(asViewer.status, 403, "a presented token is used as is");
    } finally {
      await server.close();
    }
  });

  it("reports a port in use clearly", async () => {
    const a = await start();
    try {
      await assert.rejects(start({ port: a.port }), /already in use/);
    } finally {
      await a.close();
    }
  });
});

describe("Housekeeper", () => {
  it("times out runs past their deadline, wakes due timers and prunes silent workers", async () => {
    let now = 1_000_000;
    const db = await openTestSqlite({ clock: () => now });
    try {
      const { run } = await db.store.startRun({ namespace: "default", type: "task", name: "t", timeoutMs: 1000 });
      await db.store.registerWorker({ namespace: "default", name: "old", version: "1", queues: [], kinds: [] });
      const keeper = new Housekeeper({ store: db.store, workerTtlMs: 5000, clock: () => now });
      now += 10_000;
      const result = await keeper.tick();
      assert.equal(result.timedOut, 1);
      assert.equal(result.workersPruned, 1);
      assert.equal((await db.store.getRun({ namespace: "default", id: run.id }))?.status, "timed_out");
      keeper.start();
      await keeper.stop();
    } finally {
      await db.close();
    }
  });
});
