import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../tests/support/test-db.ts";
import { errorCode, rawRequest } from "../../tests/support/raw-http.ts";
import { silentLogger } from "./logger.ts";
import { startServer } from "./start-server.ts";

/** The cookie pair (`kiln_session=…`) of a Set-Cookie header. */
function cookiePair(setCookie: string | undefined): string {
  assert.ok(setCookie, "a Set-Cookie header");
  return setCookie.split(";")[0] as string;
}

const NAVIGATE = { "sec-fetch-site": "none", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" };

describe("the UI session cookie", () => {
  let db: TestStore;
  let dataDir: string;
  beforeEach(async () => {
    db = await openTestSqlite();
    dataDir = mkdtempSync(join(tmpdir(), "kiln-session-"));
  });
  afterEach(async () => {
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (auth: "loopback-open" | "required") =>
    startServer({ store: db.store, dataDir, port: 0, logger: silentLogger(), auth });

  it("gives a loopback-open UI page an HttpOnly SameSite=Strict session that is not the admin token", async () => {
    const server = await start("loopback-open");
    try {
      const page = await rawRequest(`${server.url}/`, { headers: NAVIGATE });
      const setCookie = page.cookies.find((c) => c.startsWith("kiln_session="));
      assert.match(setCookie ?? "", /; Path=\/; HttpOnly; SameSite=Strict/);
      assert.doesNotMatch(setCookie ?? "", /Secure/, "plain http: no Secure attribute");
      const admin = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
      assert.ok(!(setCookie ?? "").includes(admin), "the admin token never leaves the data directory");
      const cookie = cookiePair(setCookie);

      // A deep link into the UI, answered by the static handler with its own Response, gets it too.
      const raw = await rawRequest(`${server.url}/runs/some-id`, { headers: NAVIGATE });
      assert.match(raw.text, /<title>Kiln<\/title>/);
      assert.match(raw.cookies.find((c) => c.startsWith("kiln_session=")) ?? "", /HttpOnly; SameSite=Strict/);

      // A cross-site navigation gets no session (and a fetch from a page is no navigation).
      const crossSite = await rawRequest(`${server.url}/runs`, {
        headers: { ...NAVIGATE, "sec-fetch-site": "cross-site" },
      });
      assert.equal(crossSite.cookies.length, 0);
      const subresource = await rawRequest(`${server.url}/`, {
        headers: { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" },
      });
      assert.equal(subresource.cookies.length, 0);

      const session = await rawRequest(`${server.url}/v1/session`, { headers: { cookie } });
      assert.deepEqual(session.json(), { namespace: "*", role: "admin", mode: "loopback-open", via: "cookie" });

      // The cookie is a credential: it may set a secret, from the UI's own origin only.
      const put = (headers: Record<string, string>) =>
        rawRequest(`${server.url}/v1/secrets/UI_SECRET`, {
          method: "PUT",
          headers: { cookie, "content-type": "application/json", ...headers },
          body: JSON.stringify({ value: "v" }),
        });
      assert.equal((await put({ origin: server.url })).status, 201);
      assert.equal((await put({ "sec-fetch-site": "same-origin" })).status, 200);
      const noProof = await put({});
      assert.equal(noProof.status, 403);
      assert.equal(errorCode(noProof), "CROSS_ORIGIN_FORBIDDEN");
      const withoutCookie = await rawRequest(`${server.url}/v1/secrets/UI_SECRET`, {
        method: "PUT",
        headers: { "content-type": "application/json", origin: server.url },
        body: JSON.stringify({ value: "v" }),
      });
      assert.equal(withoutCookie.status, 401, "loopback without a credential may not set secrets");
    } finally {
      await server.close();
    }
    // A new server process refuses the old loopback session.
    const next = await start("loopback-open");
    try {
      const page = await rawRequest(`${next.url}/`, { headers: NAVIGATE });
      const stale = await rawRequest(`${next.url}/v1/secrets`, {
        headers: { cookie: "kiln_session=ls.1.AAAA" },
      });
      assert.equal(stale.status, 401);
      assert.equal(page.cookies.length, 1);
      // The UI asks who it is after a restart: it gets a new session.
      const renewed = await rawRequest(`${next.url}/v1/session`, { headers: { cookie: "kiln_session=ls.1.AAAA" } });
      assert.equal(renewed.status, 200);
      const fresh = cookiePair(renewed.cookies[0]);
      assert.notEqual(fresh, "kiln_session=ls.1.AAAA");
      assert.equal((await rawRequest(`${next.url}/v1/secrets`, { headers: { cookie: fresh } })).status, 200);
    } finally {
      await next.close();
    }
  });

  it("signs in with a token when the server requires tokens, and signs out", async () => {
    const server = await start("required");
    try {
      assert.equal((await rawRequest(`${server.url}/v1/session`)).status, 401);
      const page = await rawRequest(`${server.url}/`, { headers: NAVIGATE });
      assert.equal(page.cookies.length, 0, "no automatic session when tokens are required");

      const viewer = (await db.store.createToken({ name: "v", namespace: "default", role: "viewer" })).plaintext;
      const bad = await rawRequest(`${server.url}/v1/session`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: server.url },
        body: JSON.stringify({ token: "kiln_nope" }),
      });
      assert.equal(bad.status, 401);
      assert.equal(bad.cookies.length, 0);
      const signIn = await rawRequest(`${server.url}/v1/session`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: server.url, "x-forwarded-proto": "https" },
        body: JSON.stringify({ token: viewer }),
      });
      assert.equal(signIn.status, 200);
      assert.deepEqual(signIn.json(), { namespace: "default", role: "viewer", mode: "auth", via: "cookie" });
      assert.match(signIn.cookies[0] ?? "", /; HttpOnly; SameSite=Strict; Secure$/);
      const cookie = cookiePair(signIn.cookies[0]);

      const who = await rawRequest(`${server.url}/v1/session`, { headers: { cookie } });
      assert.deepEqual(who.json(), { namespace: "default", role: "viewer", mode: "auth", via: "cookie" });
      assert.equal((await rawRequest(`${server.url}/v1/runs`, { headers: { cookie } })).status, 200);
      const bearer = await rawRequest(`${server.url}/v1/session`, { headers: { authorization: `Bearer ${viewer}` } });
      assert.equal(bearer.json<{ via: string }>().via, "header");

      const signOut = await rawRequest(`${server.url}/v1/session`, { method: "DELETE", headers: { cookie } });
      assert.equal(signOut.status, 204);
      assert.match(signOut.cookies[0] ?? "", /^kiln_session=; .*Max-Age=0/);
      // A loopback session cookie means nothing to a server that requires tokens.
      const forged = await rawRequest(`${server.url}/v1/runs`, { headers: { cookie: "kiln_session=ls.1.AAAA" } });
      assert.equal(forged.status, 401);
    } finally {
      await server.close();
    }
  });
});
