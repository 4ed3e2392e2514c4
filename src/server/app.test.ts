import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openTestApp, type TestApp } from "../../tests/support/test-app.ts";
import { forEachStore } from "../../tests/support/test-db.ts";

type Json = Record<string, unknown> & { items?: Record<string, unknown>[]; error?: { code: string; message: string } };

forEachStore("HTTP API", ({ dialect }) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(dialect);
  });
  after(async () => {
    await t?.close();
  });

  describe("errors", () => {
    it("answers unknown routes with 404 ROUTE_NOT_FOUND", async () => {
      const { status, body } = await t.json<Json>("/v1/nope");
      assert.equal(status, 404);
      assert.equal(body.error?.code, "ROUTE_NOT_FOUND");
    });

    it("answers bad JSON with 400 INVALID_JSON and bad fields with INVALID_INPUT naming the path", async () => {
      const bad = await t.json<Json>("/v1/runs", { body: "{nope", headers: { "content-type": "application/json" } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error?.code, "INVALID_JSON");
      const invalid = await t.json<Json>("/v1/runs", {
        json: { type: "workflow", allowUnknown: true, name: "x", priority: "high" },
      });
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.error?.code, "INVALID_INPUT");
      assert.match(invalid.body.error?.message ?? "", /body\.priority/);
      const unknown = await t.json<Json>("/v1/runs", {
        json: { type: "workflow", allowUnknown: true, name: "x", prority: 1 },
      });
      assert.match(unknown.body.error?.message ?? "", /prority/, "typos are named, not ignored");
      const query = await t.json<Json>("/v1/runs?limit=0");
      assert.match(query.body.error?.message ?? "", /query\.limit/);
      const status = await t.json<Json>("/v1/runs?status=running,done");
      assert.match(status.body.error?.message ?? "", /unknown status "done"/);
    });

    it("rejects a body over the cap with 413 PAYLOAD_TOO_LARGE", async () => {
      const small = await openTestApp(dialect, { maxBodyBytes: 1000 });
      try {
        const { status, body } = await small.json<Json>("/v1/runs", {
          json: { type: "task", allowUnknown: true, name: "x", input: "y".repeat(2000) },
        });
        assert.equal(status, 413);
        assert.equal(body.error?.code, "PAYLOAD_TOO_LARGE");
      } finally {
        await small.close();
      }
    });

    it("says how to authenticate: 401 with WWW-Authenticate", async () => {
      const res = await t.request("/v1/runs", { token: null });
      assert.equal(res.status, 401);
      assert.match(res.headers.get("www-authenticate") ?? "", /Bearer/);
      const bad = await t.json<Json>("/v1/runs", { token: "kiln_nope" });
      assert.equal(bad.body.error?.code, "UNAUTHENTICATED");
    });
  });

  describe("runs", () => {
    it("starts a run (201), returns the same run for a repeated idempotency key (200), gets it with steps", async () => {
      const start = {
        type: "task",
        allowUnknown: true,
        name: "backup",
        input: { bucket: "b" },
        idempotencyKey: "k1",
        priority: 5,
      };
      const first = await t.json<Json>("/v1/runs", { json: start, namespace: "team" });
      assert.equal(first.status, 201);
      assert.equal(first.body.status, "queued");
      assert.equal(first.body.namespace, "team");
      assert.deepEqual(first.body.input, { bucket: "b" });
      const again = await t.json<Json>("/v1/runs", { json: start, namespace: "team" });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, first.body.id);
      const got = await t.json<Json>(`/v1/runs/${first.body.id}`, { namespace: "team" });
      assert.equal(got.status, 200);
      assert.deepEqual(got.body.steps, []);
      assert.equal(got.body.priority, 5);
      const other = await t.json<Json>(`/v1/runs/${first.body.id}`);
      assert.equal(other.status, 404, "not visible from another namespace");
      assert.equal(other.body.error?.code, "RUN_NOT_FOUND");
    });

    it("lists with filters and cursor pages", async () => {
      for (let i = 0; i < 5; i++)
        await t.json("/v1/runs", {
          json: { type: "workflow", allowUnknown: true, name: "listed" },
          namespace: "team",
        });
      const page1 = await t.json<Json>("/v1/runs?name=listed&limit=3&status=queued", { namespace: "team" });
      assert.equal(page1.body.items?.length, 3);
      assert.equal(typeof page1.body.nextCursor, "string");
      const page2 = await t.json<Json>(`/v1/runs?name=listed&limit=3&cursor=${page1.body.nextCursor}`, {
        namespace: "team",
      });
      assert.equal(page2.body.items?.length, 2);
      assert.equal(page2.body.nextCursor, null);
      const none = await t.json<Json>("/v1/runs?name=listed&type=task", { namespace: "team" });
      assert.equal(none.body.items?.length, 0);
    });

    it("cancels a queued run and retries it from a step", async () => {
      const run = await t.json<Json>("/v1/runs", { json: { type: "workflow", allowUnknown: true, name: "c" } });
      const cancelled = await t.json<Json>(`/v1/runs/${run.body.id}/cancel`, {
        json: { reason: "no longer needed" },
      });
      assert.equal(cancelled.status, 200);
      assert.equal(cancelled.body.status, "cancelled");
      const again = await t.json<Json>(`/v1/runs/${run.body.id}/cancel`, { method: "POST" });
      assert.equal(again.status, 409);
      assert.equal(again.body.error?.code, "INVALID_STATE_TRANSITION");
      const missingStep = await t.json<Json>(`/v1/runs/${run.body.id}/retry`, { json: { fromStep: "nope" } });
      assert.equal(missingStep.body.error?.code, "STEP_NOT_FOUND");
      const retried = await t.json<Json>(`/v1/runs/${run.body.id}/retry`, { method: "POST" });
      assert.equal(retried.body.status, "queued");
      assert.equal(retried.body.attempt, 2);
      const steps = await t.json<Json>(`/v1/runs/${run.body.id}/steps`);
      assert.deepEqual(steps.body, { items: [], nextCursor: null });
    });

    it("pins a workflow run to the latest deployed version unless one is given", async () => {
      const d1 = await t.json<Json>("/v1/workflows", { json: { name: "pinned", source: "export default 1" } });
      assert.equal(d1.status, 201);
      await t.json<Json>("/v1/workflows", { json: { name: "pinned", source: "export default 2" } });
      const latest = await t.json<Json>("/v1/runs", {
        json: { type: "workflow", allowUnknown: true, name: "pinned" },
      });
      assert.equal(latest.body.version, "2");
      const older = await t.json<Json>("/v1/runs", {
        json: { type: "workflow", allowUnknown: true, name: "pinned", version: "1" },
      });
      assert.equal(older.body.version, "1");
      const missing = await t.json<Json>("/v1/runs", {
        json: { type: "workflow", allowUnknown: true, name: "pinned", version: "9" },
      });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.error?.code, "WORKFLOW_NOT_FOUND");
      const inProcess = await t.json<Json>("/v1/runs", {
        json: { type: "workflow", allowUnknown: true, name: "registered-in-code", version: "v7" },
      });
      assert.equal(inProcess.status, 201, "a name without deployments is accepted as given");
      assert.equal(inProcess.body.version, "v7");
    });

    it("refuses to start what nothing can run (404 naming it, with a close name) unless allowUnknown", async () => {
      await t.json<Json>("/v1/workflows", { json: { name: "nightly-report", source: "export default 1" } });
      const typo = await t.json<Json>("/v1/runs", { json: { type: "workflow", name: "nightly-reprot" } });
      assert.equal(typo.status, 404);
      assert.equal(typo.body.error?.code, "WORKFLOW_NOT_FOUND");
      assert.match(typo.body.error?.message as string, /"nightly-reprot".*did you mean "nightly-report"/);
      const kind = await t.json<Json>("/v1/runs", { json: { type: "task", name: "no-such-kind" } });
      assert.equal(kind.status, 404);
      assert.equal(kind.body.error?.code, "TASK_KIND_NOT_FOUND");
      await t.store.registerWorker({
        namespace: "default",
        name: "w-known",
        version: "test",
        queues: ["default"],
        kinds: [{ kind: "no-such-kind", settings: {} }],
        workflows: ["coded"],
      });
      const known = await t.json<Json>("/v1/runs", { json: { type: "task", name: "no-such-kind" } });
      assert.equal(known.status, 201, "a kind a registered worker declares starts");
      const coded = await t.json<Json>("/v1/runs", { json: { type: "workflow", name: "coded" } });
      assert.equal(coded.status, 201, "a workflow a worker registered in code starts");
      const later = await t.json<Json>("/v1/runs", { json: { type: "task", name: "later", allowUnknown: true } });
      assert.equal(later.status, 201);
      assert.equal(later.body.status, "queued");
      await t.store.unregisterWorker({ namespace: "default", name: "w-known" });
    });

    it("pages logs by seq", async () => {
      const run = await t.json<Json>("/v1/runs", { json: { type: "task", allowUnknown: true, name: "logger" } });
      const id = run.body.id as string;
      await t.store.appendLogs({
        entries: Array.from({ length: 5 }, (_, i) => ({
          runId: id,
          attempt: 1,
          level: "info" as const,
          message: `line ${i}`,
        })),
      });
      const first = await t.json<Json>(`/v1/runs/${id}/logs?limit=3`);
      assert.deepEqual(
        first.body.items?.map((l) => l.message),
        ["line 0", "line 1", "line 2"],
      );
      const rest = await t.json<Json>(`/v1/runs/${id}/logs?after=${first.body.nextSeq}`);
      assert.deepEqual(
        rest.body.items?.map((l) => l.message),
        ["line 3", "line 4"],
      );
      const empty = await t.json<Json>(`/v1/runs/${id}/logs?after=${rest.body.nextSeq}`);
      assert.deepEqual(empty.body, { items: [], nextSeq: rest.body.nextSeq });
    });
  });

  describe("events", () => {
    it("sends an event (buffered when nobody waits)", async () => {
      const { status, body } = await t.json<Json>("/v1/events", {
        json: { name: "order.paid", key: "o1", payload: { n: 1 } },
      });
      assert.equal(status, 201);
      assert.equal(typeof body.eventId, "string");
      assert.equal(body.deliveredTo, null);
    });
  });

  describe("workflows", () => {
    it("deploys with versions and content hashes, no-ops identical source, lists and shows versions", async () => {
      const FLOW_A = 'nodes: { a: { type: transform, params: { script: "return 1" } } }';
      const FLOW_B = 'nodes: { a: { type: transform, params: { script: "return 2" } } }';
      const FLOW_C = 'nodes: { a: { type: transform, params: { script: "return 3" } } }';
      const a = await t.json<Json>("/v1/workflows", {
        json: { name: "etl", source: FLOW_A, runtime: "flow", description: "nightly" },
      });
      assert.equal(a.status, 201);
      assert.deepEqual(
        { ...a.body, contentHash: "h" },
        { name: "etl", version: "1", contentHash: "h", runtime: "flow", created: true },
      );
      assert.match(a.body.contentHash as string, /^[0-9a-f]{64}$/);
      const same = await t.json<Json>("/v1/workflows", {
        json: { name: "etl", source: FLOW_A, runtime: "flow" },
      });
      assert.equal(same.status, 200);
      assert.equal(same.body.created, false);
      await t.json("/v1/workflows", {
        json: { name: "etl", source: FLOW_B, runtime: "flow", version: "2024.2" },
      });
      const clash = await t.json<Json>("/v1/workflows", {
        json: { name: "etl", source: FLOW_C, runtime: "flow", version: "2024.2" },
      });
      assert.equal(clash.status, 409);
      assert.equal(clash.body.error?.code, "WORKFLOW_VERSION_EXISTS");
      const list = await t.json<Json>("/v1/workflows");
      const etl = list.body.items?.find((w) => w.name === "etl");
      assert.equal(etl?.version, "2024.2");
      assert.equal(etl?.versions, 2);
      const versions = await t.json<Json>("/v1/workflows/etl/versions");
      assert.deepEqual(
        versions.body.items?.map((v) => v.version),
        ["2024.2", "1"],
      );
      const one = await t.json<Json>("/v1/workflows/etl/versions/1");
      assert.equal(one.body.source, FLOW_A);
      assert.equal((await t.json<Json>("/v1/workflows/etl")).body.version, "2024.2");
      assert.equal((await t.json<Json>("/v1/workflows/nope/versions")).status, 404);
      assert.equal((await t.json<Json>("/v1/workflows/etl/versions/9")).body.error?.code, "WORKFLOW_NOT_FOUND");
    });
  });

  describe("workers and task kinds", () => {
    it("lists registered workers with heartbeat age and the task kinds they serve", async () => {
      await t.store.registerWorker({
        namespace: "team",
        name: "w1",
        version: "0.1.0",
        queues: ["default"],
        kinds: [{ kind: "backup", settings: { timeoutMs: 60000 } }],
      });
      await t.store.registerWorker({
        namespace: "team",
        name: "w2",
        version: "0.1.0",
        queues: ["gpu"],
        kinds: [
          { kind: "backup", settings: { timeoutMs: 60000 } },
          { kind: "render", settings: {} },
        ],
      });
      const workers = await t.json<Json>("/v1/workers", { namespace: "team" });
      assert.deepEqual(
        workers.body.items?.map((w) => [w.name, w.alive, typeof w.heartbeatAgeMs]),
        [
          ["w1", true, "number"],
          ["w2", true, "number"],
        ],
      );
      const tasks = await t.json<Json>("/v1/tasks", { namespace: "team" });
      const backup = tasks.body.items?.find((k) => k.kind === "backup") as Json;
      assert.deepEqual(backup.settings, { timeoutMs: 60000 });
      assert.deepEqual((backup.queues as string[]).sort(), ["default", "gpu"]);
      assert.equal((backup.workers as unknown[]).length, 2);
      assert.deepEqual(
        tasks.body.items?.map((k) => k.kind),
        ["backup", "render"],
      );
      assert.deepEqual((await t.json<Json>("/v1/tasks")).body.items, [], "other namespaces see none");
    });
  });

  describe("namespaces, tokens, secrets", () => {
    it("creates namespaces with a * admin only; a token lists its own", async () => {
      const created = await t.json<Json>("/v1/namespaces", { json: { name: "ops", description: "Ops" } });
      assert.equal(created.status, 201);
      assert.equal((await t.json<Json>("/v1/namespaces", { json: { name: "ops" } })).status, 200);
      const denied = await t.json<Json>("/v1/namespaces", { json: { name: "x" }, token: t.tokens.admin });
      assert.equal(denied.status, 403);
      const all = await t.json<Json>("/v1/namespaces");
      assert.ok((all.body.items?.map((n) => n.name) ?? []).includes("ops"));
      const mine = await t.json<Json>("/v1/namespaces", { token: t.tokens.viewer });
      assert.deepEqual(
        mine.body.items?.map((n) => n.name),
        ["team"],
      );
      const unknownNs = await t.json<Json>("/v1/runs", { namespace: "ghost" });
      assert.equal(unknownNs.status, 404);
      assert.equal(unknownNs.body.error?.code, "NAMESPACE_NOT_FOUND");
    });

    it("creates a token shown once, authenticates with Bearer and Basic, revokes it", async () => {
      const created = await t.json<Json>("/v1/tokens", {
        json: { name: "ci", role: "developer" },
        token: t.tokens.admin,
      });
      assert.equal(created.status, 201);
      assert.equal(created.body.namespace, "team");
      const secret = created.body.token as string;
      assert.match(secret, /^kiln_/);
      const listed = await t.json<Json>("/v1/tokens", { token: t.tokens.admin });
      assert.ok(!JSON.stringify(listed.body).includes(secret), "lists never show the secret");
      assert.ok(
        listed.body.items?.every((k) => k.namespace === "team"),
        "a namespace admin sees its namespace's tokens",
      );
      const who = await t.json<Json>("/v1/whoami", { token: secret });
      assert.deepEqual([who.body.role, who.body.namespace], ["developer", "team"]);
      const basic = await t.request("/v1/whoami", {
        token: null,
        headers: { authorization: `Basic ${Buffer.from(`ci:${secret}`).toString("base64")}` },
      });
      assert.equal(basic.status, 200);
      const foreign = await t.json<Json>("/v1/tokens", {
        json: { name: "x", role: "admin", namespace: "*" },
        token: t.tokens.admin,
      });
      assert.equal(foreign.status, 403);
      const revoked = await t.json<Json>(`/v1/tokens/${created.body.id}`, {
        method: "DELETE",
        token: t.tokens.admin,
      });
      assert.equal(revoked.status, 200);
      assert.equal(typeof revoked.body.revokedAt, "number");
      assert.equal((await t.request("/v1/whoami", { token: secret })).status, 401);
    });

    it("sets, lists (names only) and deletes secrets, encrypted at rest", async () => {
      const set = await t.json<Json>("/v1/secrets/API_TOKEN", {
        method: "PUT",
        json: { value: "hunter2" },
        token: t.tokens.developer,
      });
      assert.equal(set.status, 201);
      const replaced = await t.json<Json>("/v1/secrets/API_TOKEN", {
        method: "PUT",
        json: { value: "hunter3" },
        token: t.tokens.developer,
      });
      assert.equal(replaced.status, 200);
      const list = await t.json<Json>("/v1/secrets", { token: t.tokens.developer });
      assert.deepEqual(
        list.body.items?.map((s) => s.name),
        ["API_TOKEN"],
      );
      assert.ok(!JSON.stringify(list.body).includes("hunter"));
      const [stored] = await t.store.getSecrets({ namespace: "team", names: ["API_TOKEN"] });
      assert.ok(stored && !JSON.stringify(stored).includes("hunter"));
      assert.equal((await t.json<Json>("/v1/secrets/bad-name", { method: "PUT", json: { value: "x" } })).status, 400);
      const rotated = await t.json<Json>("/v1/secrets/rotate-key", { method: "POST" });
      assert.equal(rotated.status, 200);
      assert.ok((rotated.body.reencrypted as number) >= 1);
      assert.deepEqual(await t.kiln.deps.vault.getValues({ namespace: "team", names: ["API_TOKEN"] }), {
        API_TOKEN: "hunter3",
      });
      const gone = await t.json<Json>("/v1/secrets/API_TOKEN", { method: "DELETE", token: t.tokens.developer });
      assert.deepEqual(gone.body, { name: "API_TOKEN", deleted: true });
      assert.equal(
        (await t.json<Json>("/v1/secrets/API_TOKEN", { method: "DELETE", namespace: "team" })).body.error?.code,
        "SECRET_NOT_FOUND",
      );
    });
  });

  describe("operations", () => {
    it("serves health, readiness, metrics and the OpenAPI 3.1 document", async () => {
      assert.deepEqual((await t.json("/healthz", { token: null })).body, { status: "ok" });
      assert.deepEqual((await t.json("/readyz", { token: null })).body, { status: "ready", store: dialect });
      assert.equal((await t.request("/metrics", { token: null })).status, 401, "metrics span namespaces");
      assert.equal((await t.request("/metrics", { token: t.tokens.viewer })).status, 403);
      const metrics = await (await t.request("/metrics")).text();
      for (const name of [
        "kiln_runs",
        "kiln_queue_depth",
        "kiln_claim_duration_seconds",
        "kiln_step_duration_seconds",
        "kiln_worker_heartbeat_age_seconds",
      ]) {
        assert.match(metrics, new RegExp(`# TYPE ${name} `), name);
      }
      assert.match(metrics, /kiln_runs\{namespace="team",queue="default",status="queued"\} \d+/);
      const doc = (await t.json<Json>("/v1/openapi.json", { token: null })).body as {
        openapi: string;
        paths: Record<string, Record<string, { operationId: string; requestBody?: unknown }>>;
        components: { schemas: Record<string, unknown> };
      };
      assert.equal(doc.openapi, "3.1.0");
      assert.equal(doc.paths["/v1/runs/{id}"]?.get?.operationId, "getRun");
      assert.ok(doc.paths["/v1/runs"]?.post?.requestBody);
      assert.ok(doc.components.schemas.Run && doc.components.schemas.StartRunBody);
      // Operation ids are unique and every {param} of a path is declared.
      const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.values(methods).map((op) => ({
          path,
          op: op as { operationId: string; parameters?: { name: string; in: string }[] },
        })),
      );
      assert.equal(new Set(ops.map((o) => o.op.operationId)).size, ops.length);
      for (const { path, op } of ops) {
        for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
          assert.ok(
            op.parameters?.some((p) => p.in === "path" && p.name === name),
            `${op.operationId} declares {${name}}`,
          );
        }
      }
      // Every $ref points at a component that exists.
      const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
      for (const r of refs) assert.ok(doc.components.schemas[r as string], `missing component ${r}`);
    });

    it("rate-limits a token with 429 and Retry-After", async () => {
      const limited = await openTestApp(dialect, { rateLimit: { default: { perSecond: 1, burst: 3 } } });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++) statuses.push((await limited.request("/v1/runs")).status);
        assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
        const res = await limited.request("/v1/runs");
        assert.equal(res.headers.get("retry-after"), "1");
        assert.equal(((await res.json()) as Json).error?.code, "RATE_LIMITED");
        assert.equal((await limited.request("/v1/runs", { token: limited.tokens.viewer })).status, 200, "per token");
      } finally {
        await limited.close();
      }
    });
  });
});
