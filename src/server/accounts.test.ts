import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openTestApp, type TestApp } from "../../tests/support/test-app.ts";
import { forEachStore } from "../../tests/support/test-db.ts";
import { hashPassword, verifyPassword } from "./password-hash.ts";

type Json = Record<string, unknown> & { items?: Record<string, unknown>[]; error?: { code: string; message: string } };

const basic = (name: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`,
});

describe("password hashes", () => {
  it("match their password only, and name their scrypt parameters", async () => {
    const hash = await hashPassword("correct horse");
    assert.match(hash, /^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    assert.equal(await verifyPassword("correct horse", hash), true);
    assert.equal(await verifyPassword("correct hors", hash), false);
    assert.equal(await verifyPassword("correct horse", "scrypt$x$y$z$$"), false, "a damaged hash matches nothing");
    assert.notEqual(await hashPassword("correct horse"), hash, "salted");
  });
});

forEachStore("Accounts over HTTP", ({ dialect }) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(dialect, { rateLimit: false });
    const add = (json: unknown) => t.json<Json>("/v1/accounts", { json });
    assert.equal(
      (await add({ name: "vera", role: "viewer", namespace: "team", password: "vera-password" })).status,
      201,
    );
    assert.equal(
      (await add({ name: "dev", role: "developer", namespace: "team", password: "dev-password" })).status,
      201,
    );
  });
  after(async () => {
    await t?.close();
  });

  it("authenticates HTTP Basic with the right password", async () => {
    const res = await t.json<Json>("/v1/runs", { token: null, headers: basic("vera", "vera-password") });
    assert.equal(res.status, 200);
    const session = await t.json<Json>("/v1/session", { token: null, headers: basic("vera", "vera-password") });
    assert.deepEqual(session.body, {
      namespace: "team",
      role: "viewer",
      mode: "auth",
      via: "header",
      account: "vera",
    });
  });

  it("refuses a wrong password and an unknown user alike", async () => {
    const wrong = await t.json<Json>("/v1/runs", { token: null, headers: basic("vera", "not-her-password") });
    const unknown = await t.json<Json>("/v1/runs", { token: null, headers: basic("nobody", "vera-password") });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error?.code, "UNAUTHENTICATED");
    assert.equal(unknown.status, 401);
    assert.equal(unknown.body.error?.message, wrong.body.error?.message, "names cannot be probed");
  });

  it("denies what the account's role does not allow, and other namespaces", async () => {
    const start = await t.json<Json>("/v1/runs", {
      token: null,
      headers: basic("vera", "vera-password"),
      json: { type: "workflow", name: "wf", allowUnknown: true },
    });
    assert.equal(start.status, 403);
    assert.equal(start.body.error?.code, "FORBIDDEN");
    assert.match(start.body.error?.message ?? "", /viewer account/);
    const other = await t.json<Json>("/v1/runs", {
      token: null,
      namespace: "default",
      headers: basic("vera", "vera-password"),
    });
    assert.equal(other.status, 403);
    const started = await t.json<Json>("/v1/runs", {
      token: null,
      headers: basic("dev", "dev-password"),
      json: { type: "workflow", name: "wf", allowUnknown: true },
    });
    assert.equal(started.status, 201);
  });

  it("keeps token Basic auth working beside accounts", async () => {
    const res = await t.json<Json>("/v1/runs", { token: null, headers: basic("anyone", t.tokens.viewer) });
    assert.equal(res.status, 200);
  });

  it("lets only a * admin manage accounts, and never shows a hash", async () => {
    const denied = await t.json<Json>("/v1/accounts", { token: t.tokens.admin });
    assert.equal(denied.status, 403);
    const listed = await t.json<Json>("/v1/accounts");
    assert.deepEqual(
      listed.body.items?.map((a) => a.name),
      ["dev", "vera"],
    );
    assert.doesNotMatch(JSON.stringify(listed.body), /scrypt|password/i);
    const short = await t.json<Json>("/v1/accounts", {
      json: { name: "x", role: "viewer", namespace: "team", password: "short" },
    });
    assert.equal(short.body.error?.code, "INVALID_INPUT");
    const taken = await t.json<Json>("/v1/accounts", {
      json: { name: "vera", role: "viewer", namespace: "team", password: "another-password" },
    });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error?.code, "ACCOUNT_EXISTS");
  });

  it("signs the UI in with a name and password; a password change ends the session", async () => {
    const signIn = await t.request("/v1/session", {
      token: null,
      json: { name: "vera", password: "vera-password" },
    });
    assert.equal(signIn.status, 200);
    const cookie = signIn.headers.getSetCookie().find((v) => v.startsWith("kiln_session=as."));
    assert.ok(cookie, "an account session cookie");
    assert.match(cookie, /HttpOnly; SameSite=Strict; Max-Age=43200/);
    const value = cookie.split(";")[0] as string;
    const me = await t.json<Json>("/v1/session", { token: null, headers: { cookie: value } });
    assert.equal(me.body.account, "vera");
    assert.equal((await t.request("/v1/runs", { token: null, headers: { cookie: value } })).status, 200);
    const changed = await t.json<Json>("/v1/accounts/vera/password", {
      method: "PUT",
      json: { password: "vera-password-2" },
    });
    assert.equal(changed.status, 200);
    const ended = await t.json<Json>("/v1/runs", { token: null, headers: { cookie: value } });
    assert.equal(ended.status, 401);
    const old = await t.json<Json>("/v1/runs", { token: null, headers: basic("vera", "vera-password") });
    assert.equal(old.status, 401, "the old password no longer works");
    const fresh = await t.json<Json>("/v1/runs", { token: null, headers: basic("vera", "vera-password-2") });
    assert.equal(fresh.status, 200);
  });

  it("tells the sign-in page whether accounts exist", async () => {
    const res = await t.json<Json & { error?: { data?: { accounts?: boolean } } }>("/v1/session", { token: null });
    assert.equal(res.status, 401);
    assert.equal(res.body.error?.data?.accounts, true);
  });

  it("names the account in audit records", async () => {
    await t.request("/v1/runs", {
      token: null,
      headers: basic("dev", "dev-password"),
      json: { type: "workflow", name: "audited", allowUnknown: true },
    });
    await t.kiln.deps.audit.flush();
    const { items } = await t.store.audit.listAuditRecords({ limit: 50, action: "startRun" });
    const mine = items.find((r) => r.actorName === "dev");
    assert.equal(mine?.actor, "account:dev");
    assert.equal(mine?.outcome, "ok");
    const signIns = await t.store.audit.listAuditRecords({ limit: 50, action: "createSession" });
    assert.ok(
      signIns.items.some((r) => r.actor === "account:vera" && r.outcome === "ok"),
      "a sign-in names its account",
    );
  });

  it("deletes an account; its credentials stop working", async () => {
    const res = await t.request("/v1/accounts/dev", { method: "DELETE" });
    assert.equal(res.status, 204);
    const gone = await t.json<Json>("/v1/accounts/dev", { method: "DELETE" });
    assert.equal(gone.body.error?.code, "ACCOUNT_NOT_FOUND");
    assert.equal((await t.request("/v1/runs", { token: null, headers: basic("dev", "dev-password") })).status, 401);
  });
});
