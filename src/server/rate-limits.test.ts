import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openTestApp } from "../../tests/support/test-app.ts";
import { hasCode } from "../errors.ts";
import { parseRateLimit, resolveRateLimits } from "./rate-limits.ts";

type Json = { error?: { code: string; message: string } };

describe("rate limits", () => {
  it("parse PER_SECOND[,BURST] and off, and refuse anything else", () => {
    assert.deepEqual(parseRateLimit("5,20", "--rate-limit"), { perSecond: 5, burst: 20 });
    assert.deepEqual(parseRateLimit("0.5", "--rate-limit"), { perSecond: 0.5, burst: 2 });
    assert.equal(parseRateLimit("off", "--rate-limit"), false);
    for (const bad of ["", "0", "-1", "x", "5,0", "5,1.5", "1,2,3"]) {
      assert.throws(
        () => parseRateLimit(bad, "--rate-limit"),
        (e) => hasCode(e, "INVALID_CONFIG") && /--rate-limit/.test((e as Error).message),
      );
    }
    assert.deepEqual(resolveRateLimits({ anonymous: false }).anonymous, false);
    assert.deepEqual(resolveRateLimits(undefined).default, { perSecond: 50, burst: 200 });
  });

  it("limit unauthenticated requests per client address with 429 RATE_LIMITED and Retry-After", async () => {
    const t = await openTestApp("sqlite", { rateLimit: { anonymous: { perSecond: 0.5, burst: 2 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await t.request("/healthz", { token: null })).status);
      assert.deepEqual(statuses, [200, 200, 429]);
      const res = await t.request("/v1/openapi.json", { token: null });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get("retry-after"), "2");
      const body = (await res.json()) as Json;
      assert.equal(body.error?.code, "RATE_LIMITED");
      assert.match(body.error?.message ?? "", /unauthenticated requests/);
      assert.equal((await t.request("/v1/runs")).status, 200, "a token has its own bucket");
    } finally {
      await t.close();
    }
  });

  it("count failed sign-ins against the client address (no password guessing at network speed)", async () => {
    const t = await openTestApp("sqlite", { rateLimit: { anonymous: { perSecond: 0.1, burst: 2 } } });
    try {
      const wrong = {
        token: null,
        headers: { authorization: `Basic ${Buffer.from("ann:guess-1234").toString("base64")}` },
      };
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await t.request("/v1/runs", wrong)).status);
      assert.deepEqual(statuses, [401, 401, 429]);
    } finally {
      await t.close();
    }
  });

  it("limit each account and each token separately, as configured", async () => {
    const t = await openTestApp("sqlite", {
      rateLimit: { default: { perSecond: 0.1, burst: 2 }, anonymous: false },
    });
    try {
      const created = await t.request("/v1/accounts", {
        json: { name: "ann", role: "viewer", namespace: "team", password: "ann-password" },
      });
      assert.equal(created.status, 201);
      const ann = {
        token: null,
        headers: { authorization: `Basic ${Buffer.from("ann:ann-password").toString("base64")}` },
      };
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await t.request("/v1/runs", ann)).status);
      assert.deepEqual(statuses, [200, 200, 429]);
      const res = (await (await t.request("/v1/runs", ann)).json()) as Json;
      assert.match(res.error?.message ?? "", /account "ann"/);
      assert.equal((await t.request("/v1/runs", { token: t.tokens.viewer })).status, 200, "a token: its own bucket");
    } finally {
      await t.close();
    }
  });
});
