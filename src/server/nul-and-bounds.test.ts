// NUL characters and out-of-range numbers in requests, on both stores: identifiers with a NUL and
// numbers the columns cannot hold are refused with 400 INVALID_INPUT naming the field (PostgreSQL
// used to answer 500); free text has NUL replaced with U+FFFD, and a log batch with one bad line
// stores every line.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { openTestApp, type TestApp } from "../../tests/support/test-app.ts";
import { forEachStore } from "../../tests/support/test-db.ts";

type Json = Record<string, unknown> & {
  id?: string;
  input?: unknown;
  items?: Record<string, unknown>[];
  error?: { code: string; message: string };
};

forEachStore("NUL and integer bounds", ({ dialect }) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(dialect);
  });
  after(async () => {
    await t?.close();
  });

  const refused = async (path: string, field: string, json?: unknown) => {
    const { status, body } = await t.json<Json>(path, {
      namespace: "team",
      ...(json === undefined ? {} : { json }),
    });
    assert.equal(status, 400, `${path} ${JSON.stringify(json)}: ${JSON.stringify(body)}`);
    assert.equal(body.error?.code, "INVALID_INPUT");
    assert.match(body.error?.message ?? "", new RegExp(field.replaceAll(".", "\\.")));
  };

  it("refuses a NUL in names, keys, queues, sources, filters and path ids with 400 naming the field", async () => {
    const start = { type: "task", allowUnknown: true, name: "t" };
    await refused("/v1/runs", "body.name", { ...start, name: "a\u0000b" });
    await refused("/v1/runs", "body.queue", { ...start, queue: "q\u0000" });
    await refused("/v1/runs", "body.idempotencyKey", { ...start, idempotencyKey: "k\u0000" });
    await refused("/v1/runs", "body.concurrencyKey", { ...start, concurrencyKey: "\u0000" });
    await refused("/v1/runs?name=a%00b", "query.name");
    await refused("/v1/runs/a%00b", "params.id");
    await refused("/v1/workflows/w%00x", "params.name");
    await refused("/v1/workflows", "body.source", { name: "w", source: "export default 1\u0000" });
    await refused("/v1/events", "body.name", { name: "e\u0000", payload: {} });
    await refused("/v1/events", "body.key", { name: "e", key: "\u0000", payload: {} });
  });

  it("refuses priority beyond int32 and unbounded durations with 400 naming the field", async () => {
    const start = { type: "task", allowUnknown: true, name: "t" };
    await refused("/v1/runs", "body.priority", { ...start, priority: 2 ** 31 });
    await refused("/v1/runs", "body.priority", { ...start, priority: -(2 ** 31) - 1 });
    await refused("/v1/runs", "body.timeoutMs", { ...start, timeoutMs: 1e300 });
    await refused("/v1/runs", "body.delayMs", { ...start, delayMs: 1e300 });
    // Found by the API fuzzer: a time filter beyond BIGINT answered 500 on PostgreSQL.
    await refused("/v1/runs?until=99999999999999999999", "query.until");
    await refused("/v1/runs?since=-9e20", "query.since");
    await refused("/v1/runs", "body.retry.maxIntervalMs", { ...start, retry: { maxIntervalMs: 1e300 } });
    const ok = await t.json<Json>("/v1/runs", {
      namespace: "team",
      json: { ...start, priority: 2 ** 31 - 1, timeoutMs: 3_600_000 },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  });

  it("refuses a NUL in ?namespace= with 400 on every route that takes a namespace", async () => {
    for (const route of t.kiln.routes) {
      if (route.access.roles === "public") continue;
      const path = route.path.replace(/:[A-Za-z]+/g, "x");
      // The worker's secrets and unseal routes serve worker tokens only.
      const workerOnly = ["workerSecrets", "workerUnseal"].includes(route.operationId);
      const token = workerOnly ? t.tokens.worker : t.tokens.root;
      const { status, body } = await t.json<Json>(`${path}?namespace=a%00b`, {
        method: route.method,
        token,
        ...(route.method === "GET" || route.method === "DELETE" ? {} : { json: {} }),
      });
      const label = `${route.method} ${path}: ${JSON.stringify(body)}`;
      assert.equal(status, 400, label);
      assert.equal(body.error?.code, "INVALID_INPUT", label);
      assert.match(body.error?.message ?? "", /query\.namespace/, label);
    }
  });

  it("replaces NUL in free text: input is stored with U+FFFD", async () => {
    const { status, body } = await t.json<Json>("/v1/runs", {
      namespace: "team",
      json: {
        type: "task",
        allowUnknown: true,
        name: "t",
        input: { text: "a\u0000b" },
        metadata: { note: "\u0000" },
      },
    });
    assert.equal(status, 201, JSON.stringify(body));
    assert.deepEqual(body.input, { text: "a\ufffdb" });
    const again = await t.json<Json>(`/v1/runs/${body.id}`, { namespace: "team" });
    assert.deepEqual(again.body.input, { text: "a\ufffdb" });
  });

  it("stores every line of a worker log batch when one line holds a NUL", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { body } = await t.json<Json>("/v1/runs", {
        namespace: "team",
        json: { type: "task", allowUnknown: true, name: "t", queue: "nul-logs" },
      });
      ids.push(body.id as string);
    }
    // Log lines are fenced by the lease: claim the runs first, as a worker would.
    const claimed = await t.json<{ runs: { run: { id: string; leaseToken: number } }[] }>("/v1/worker/claim", {
      token: t.tokens.worker,
      namespace: "team",
      json: { owner: "nul-worker", limit: 3, queues: ["nul-logs"], waitMs: 0, leaseMs: 60_000 },
    });
    const leases = new Map(claimed.body.runs.map((r) => [r.run.id, r.run.leaseToken]));
    assert.equal(leases.size, 3, JSON.stringify(claimed.body));
    const entries = ids.flatMap((runId, i) => {
      const leaseToken = leases.get(runId);
      return [
        { runId, attempt: 1, leaseToken, level: "info", message: `line ${i}` },
        ...(i === 1
          ? [{ runId, attempt: 1, leaseToken, level: "info", stepName: "s\u0000", message: "bad \u0000 line" }]
          : []),
      ];
    });
    const { status, body } = await t.json<Json>("/v1/worker/logs", {
      token: t.tokens.worker,
      json: { entries },
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.accepted, 4);
    for (const [i, id] of ids.entries()) {
      const logs = await t.json<Json>(`/v1/runs/${id}/logs`, { namespace: "team" });
      const messages = (logs.body.items ?? []).map((l) => l.message);
      assert.deepEqual(messages, i === 1 ? ["line 1", "bad \ufffd line"] : [`line ${i}`]);
    }
  });
});
