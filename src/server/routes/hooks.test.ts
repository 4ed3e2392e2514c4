// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import { openTestApp, type TestApp } from "../../../tests/support/test-app.ts";

type Json = Record<string, unknown> & { error?: { code: string; message: string } };

const GH_SECRET = "gh-shared-secret";
const STD_SECRET = `whsec_${Buffer.from("a standard webhooks test key!").toString("base64")}`;

const githubSign = (body: string, secret = GH_SECRET) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

describe("incoming webhooks (POST /hooks/{namespace}/{name})", () => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp("sqlite");
    await t.store.deployWorkflow({ namespace: "team", name: "deploy", runtime: "flow", source: "nodes: {}\n" });
    const put = (path: string, json: unknown) => t.json<Json>(path, { method: "PUT", json, namespace: "team" });
    assert.equal((await put("/v1/secrets/GH_SECRET", { value: GH_SECRET })).status, 201);
    assert.equal((await put("/v1/secrets/STD_SECRET", { value: STD_SECRET })).status, 201);
    const gh = await put("/v1/webhooks/endpoints/github", {
      workflow: "deploy",
      secretFrom: "GH_SECRET",
      scheme: "github",
      input: { ref: "${input.body.ref}", event: "${input.headers['x-github-event']}", env: "${input.query.env}" },
    });
    assert.equal(gh.status, 201, JSON.stringify(gh.body));
    assert.equal(
      (await put("/v1/webhooks/endpoints/std", { workflow: "deploy", secretFrom: "STD_SECRET" })).status,
      201,
    );
  });
  after(async () => {
    await t?.close();
  });

  const post = (path: string, body: string, headers: Record<string, string>) =>
    t.json<Json>(path, { method: "POST", token: null, body, headers });

  it("starts a run from a GitHub-signed request, mapping body, headers and query into its input", async () => {
    const body = JSON.stringify({ ref: "refs/heads/main" });
    const headers = {
      "content-type": "application/json",
      "x-hub-signature-256": githubSign(body),
      "x-github-delivery": "d-1",
      "x-github-event": "push",
    };
    const first = await post("/hooks/team/github?env=prod", body, headers);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.duplicate, false);
    const run = await t.store.getRun({ namespace: "team", id: first.body.runId as string });
    assert.deepEqual(run?.input, { ref: "refs/heads/main", event: "push", env: "prod" });
    assert.equal(run?.name, "deploy");
    // The same delivery again (a replay, or the sender's retry) gets the same run, not a new one.
    const again = await post("/hooks/team/github?env=prod", body, headers);
    assert.equal(again.status, 202);
    assert.equal(again.body.runId, first.body.runId);
    assert.equal(again.body.duplicate, true);
  });

  it("refuses a bad or missing signature with 401 and starts nothing", async () => {
    const before = (await t.store.listRuns({ namespace: "team" })).runs.length;
    const body = JSON.stringify({ ref: "x" });
    const bad = await post("/hooks/team/github", body, {
      "content-type": "application/json",
      "x-hub-signature-256": githubSign(body, "wrong"),
      "x-github-delivery": "d-2",
    });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error?.code, "WEBHOOK_SIGNATURE_INVALID");
    const none = await post("/hooks/team/github", body, { "content-type": "application/json" });
    assert.equal(none.status, 401);
    const std = await post("/hooks/team/std", body, { "content-type": "application/json" });
    assert.equal(std.status, 401);
    assert.match(std.body.error?.message ?? "", /webhook-id/);
    assert.equal((await t.store.listRuns({ namespace: "team" })).runs.length, before);
  });

  it("verifies Standard Webhooks signatures and refuses a stale timestamp (replay window)", async () => {
    const body = JSON.stringify({ hello: "world" });
    const wh = new Webhook(STD_SECRET);
    const sign = (id: string, at: Date) => ({
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": wh.sign(id, at, body),
    });
    const ok = await post("/hooks/team/std", body, sign("msg_1", new Date()));
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    const run = await t.store.getRun({ namespace: "team", id: ok.body.runId as string });
    assert.deepEqual(run?.input, { hello: "world" });
    const stale = await post("/hooks/team/std", body, sign("msg_2", new Date(Date.now() - 3_600_000)));
    assert.equal(stale.status, 401);
    assert.match(stale.body.error?.message ?? "", /timestamp/i);
  });

  it("accepts form-encoded bodies from any origin, while /v1 stays guarded", async () => {
    const body = `payload=${encodeURIComponent(JSON.stringify({ ref: "refs/tags/v1" }))}`;
    const res = await post("/hooks/team/github", body, {
      "content-type": "application/x-www-form-urlencoded",
      "x-hub-signature-256": githubSign(body),
      "x-github-delivery": "d-form",
      origin: "https://github.com",
      "sec-fetch-site": "cross-site",
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const run = await t.store.getRun({ namespace: "team", id: res.body.runId as string });
    assert.equal((run?.input as { ref?: string } | undefined)?.ref, "refs/tags/v1");
    const guarded = await t.json<Json>("/v1/runs", {
      json: { type: "task", name: "x", allowUnknown: true },
      headers: { origin: "https://evil.example" },
    });
    assert.equal(guarded.status, 403);
  });

  it("answers 413 for a body over the limit, 404 for an unknown webhook", async () => {
    const big = "x".repeat(1_048_577);
    const res = await post("/hooks/team/github", big, { "content-type": "text/plain" });
    assert.equal(res.status, 413);
    assert.equal(res.body.error?.code, "PAYLOAD_TOO_LARGE");
    const missing = await post("/hooks/team/nope", "{}", { "content-type": "application/json" });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error?.code, "WEBHOOK_NOT_FOUND");
  });

  it("waits for the run's result with ?wait= and answers 202 when it does not end in time", async () => {
    const body = JSON.stringify({ ref: "w" });
    const res = await post("/hooks/team/github?wait=300ms", body, {
      "content-type": "application/json",
      "x-hub-signature-256": githubSign(body),
      "x-github-delivery": "d-wait",
    });
    // No worker here: the run stays queued, so the wait ends without a result.
    assert.equal(res.status, 202);
    assert.equal(res.body.status, "queued");
  });
});
