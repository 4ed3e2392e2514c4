import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openTestApp, type TestApp } from "../../tests/support/test-app.ts";
import { isUiPath } from "./ui-assets.ts";

describe("web UI serving", () => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp("sqlite");
  });
  after(async () => {
    await t?.close();
  });

  it("answers index.html at / and at deep links, and serves the script", async () => {
    for (const path of ["/", "/runs/0190-abc", "/workflows"]) {
      const res = await t.request(path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", /text\/html/);
      assert.match(await res.text(), /<script type="module" src="\/ui\/app.js">/);
    }
    const script = await t.request("/ui/app.js");
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type") ?? "", /javascript/);
    assert.match(await script.text(), /\/v1\/runs/);
  });

  it("leaves API and operational paths to their own routes", async () => {
    const unknown = await t.json<{ error?: { code: string } }>("/v1/nope");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error?.code, "ROUTE_NOT_FOUND");
    assert.equal((await t.request("/healthz")).status, 200);
    for (const path of ["/v1", "/v1/runs", "/hooks/x", "/healthz", "/readyz", "/metrics"]) {
      assert.equal(isUiPath(path), false, path);
    }
    assert.equal(isUiPath("/v1x"), true, "only whole path segments are reserved");
  });
});
