import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openTestPostgres, postgresSkip, type TestStore } from "../../tests/support/test-db.ts";
import type { Store } from "../store/store.ts";
import { silentLogger } from "./logger.ts";
import { type KilnServer, startServer } from "./start-server.ts";

/**
 * Two servers on one PostgreSQL, each with its own store instance (as two processes would have):
 * nothing a request needs lives in one server's memory.
 */
describe("two servers on one PostgreSQL", { skip: postgresSkip() }, () => {
  let db: TestStore;
  let sibling: Store;
  let a: KilnServer;
  let b: KilnServer;
  const dirs: string[] = [];
  let admin: string;

  before(async () => {
    db = await openTestPostgres();
    sibling = await db.openSibling();
    const start = async (store: Store) => {
      const dataDir = mkdtempSync(join(tmpdir(), "kiln-multi-"));
      dirs.push(dataDir);
      return startServer({ store, dataDir, port: 0, logger: silentLogger(), livePollMs: 30, tokenCacheMs: 100 });
    };
    a = await start(db.store);
    b = await start(sibling);
    admin = (await db.store.createToken({ name: "root", namespace: "*", role: "admin" })).plaintext;
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const call = (server: KilnServer, path: string, init: { token?: string; json?: unknown; method?: string } = {}) =>
    fetch(`${server.url}${path}`, {
      method: init.method ?? (init.json === undefined ? "GET" : "POST"),
      headers: {
        authorization: `Bearer ${init.token ?? admin}`,
        ...(init.json === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    });

  it("wakes a long-poll claim on one server when a run is started through the other", async () => {
    const worker = (await db.store.createToken({ name: "w", namespace: "default", role: "worker" })).plaintext;
    const started = Date.now();
    const claim = call(b, "/v1/worker/claim", {
      token: worker,
      json: { owner: "w", queues: ["multi"], limit: 1, waitMs: 10_000 },
    });
    await new Promise((r) => setTimeout(r, 200));
    const run = (await (
      await call(a, "/v1/runs", { json: { type: "task", allowUnknown: true, name: "t", queue: "multi" } })
    ).json()) as {
      id: string;
    };
    const claimed = (await (await claim).json()) as { runs: { run: { id: string } }[] };
    assert.deepEqual(
      claimed.runs.map((r) => r.run.id),
      [run.id],
    );
    assert.ok(Date.now() - started < 5000, "woken by NOTIFY, not by the end of the wait");
  });

  it("streams on one server what happens through the other", async () => {
    const run = (await (
      await call(a, "/v1/runs", { json: { type: "task", allowUnknown: true, name: "t2" } })
    ).json()) as { id: string };
    const res = await call(b, `/v1/runs/${run.id}/logs?follow=1`);
    const text = res.text();
    const { runs } = await db.store.claimRuns({
      namespace: "default",
      queues: ["default"],
      names: ["t2"],
      owner: "o",
      limit: 1,
      leaseMs: 60_000,
    });
    const leaseToken = runs[0]?.run.leaseToken ?? -1;
    await db.store.appendLogs({ entries: [{ runId: run.id, attempt: 1, level: "info", message: "from A's side" }] });
    await db.store.finishRuns({ items: [{ runId: run.id, leaseToken, outcome: "complete", output: 1 }] });
    const body = await text;
    assert.match(body, /from A's side/);
    assert.match(body, /"status":"completed"/);
  });

  it("honours on one server a token created, and soon one revoked, on the other", async () => {
    const created = (await (
      await call(a, "/v1/tokens", { json: { name: "ci", role: "viewer", namespace: "default" } })
    ).json()) as { id: string; token: string };
    assert.equal((await call(b, "/v1/runs", { token: created.token })).status, 200);
    assert.equal((await call(a, `/v1/tokens/${created.id}`, { method: "DELETE" })).status, 200);
    await new Promise((r) => setTimeout(r, 150)); // b's token cache (100 ms in this test)
    assert.equal((await call(b, "/v1/runs", { token: created.token })).status, 401);
  });

  it("sees a namespace created on the other server", async () => {
    assert.equal((await call(a, "/v1/namespaces", { json: { name: "multi-ns" } })).status, 201);
    const res = await fetch(`${b.url}/v1/runs`, {
      headers: { authorization: `Bearer ${admin}`, "kiln-namespace": "multi-ns" },
    });
    assert.equal(res.status, 200);
  });
});
