import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openTestApp, type TestApp } from "../../tests/support/test-app.ts";
import { isUiPath, readUiAssets } from "./ui-assets.ts";

describe("web UI serving", () => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp("sqlite");
  });
  after(async () => {
    await t?.close();
  });

  it("answers index.html at / and at deep links, and serves the script", async () => {
    for (const path of ["/", "/runs/0190-abc", "/workflows", "/schedules", "/schedules/nightly", "/webhooks"]) {
      const res = await t.request(path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", /text\/html/);
      assert.match(await res.text(), /<script type="module" src="\/ui\/app.js">/);
    }
    const script = await t.request("/ui/app.js");
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type") ?? "", /javascript/);
    const bundle = await script.text();
    // One script: the modules are bundled (no import left to fetch), the pages are in it.
    assert.doesNotMatch(bundle, /\bfrom\s*"\.\.?\//);
    assert.match(bundle, /\/v1\/runs/);
    assert.match(bundle, /\/v1\/workflows/);
    assert.match(bundle, /\/v1\/schedules/);
    assert.match(bundle, /\/v1\/webhooks\/deliveries/);
    const again = await t.request("/ui/app.js", { headers: { "if-none-match": script.headers.get("etag") ?? "" } });
    assert.equal(again.status, 304);
    const page = await t.request("/ui/pages/runs.js");
    assert.equal(page.status, 200);
    assert.match(await page.text(), /\/v1\/runs/);
    const css = await t.request("/ui/styles.css");
    assert.match(css.headers.get("content-type") ?? "", /text\/css/);
  });

  it("answers an unknown /ui/ file with a 404, not the page (a stale module must not load HTML)", async () => {
    const missing = await t.json<{ error?: { code: string } }>("/ui/nope.js");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error?.code, "ROUTE_NOT_FOUND");
  });

  it("serves every module the app imports, so no import 404s in the browser", async () => {
    const assets = readUiAssets();
    for (const [path, asset] of assets) {
      if (!path.endsWith(".js")) continue;
      for (const [, spec] of asset.body.matchAll(/from "(\.{1,2}\/[^"]+)"/g)) {
        const target = new URL(spec as string, `http://x/ui/${path}`).pathname.slice("/ui/".length);
        assert.ok(assets.has(target), `${path} imports ${spec}, which is not served`);
      }
    }
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
