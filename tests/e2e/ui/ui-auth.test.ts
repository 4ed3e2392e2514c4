/**
 * The web UI on a `kiln server` with auth on, in a real browser: it asks for a token, keeps it in
 * the HttpOnly session cookie only, shows a viewer no buttons it cannot use, and the API refuses
 * the viewer's action anyway; an admin gets the buttons and the tokens page.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { type KilnProcess, startKiln } from "../cli-support.ts";
import { launchBrowser, screenshot } from "./browser-support.ts";

const WAIT = { timeout: 60_000 };

describe("web UI on kiln server with auth on", { timeout: 180_000 }, () => {
  let dir: string;
  let server: KilnProcess;
  let browser: Browser;
  let admin: string;
  let viewer: string;
  let runId: string;
  const problems: string[] = [];

  const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    return (await res.json()) as Record<string, unknown>;
  };

  const signIn = async (token: string): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(server.url);
    await page.waitForSelector("#login", WAIT);
    await page.fill("#token", token);
    await page.click('#login button[type="submit"]');
    await page.waitForSelector("#runs", WAIT);
    return page;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-ui-auth-"));
    server = await startKiln(["server", "--db", join(dir, "kiln.db"), "--port", "0", "--data", join(dir, "data")], dir);
    admin = readFileSync(join(dir, "data", "admin-token"), "utf8").trim();
    viewer = String((await api("/v1/tokens", { method: "POST", body: { name: "ui-viewer", role: "viewer" } })).token);
    // No worker serves this kind: the run stays queued, so it can be cancelled.
    runId = String(
      (await api("/v1/runs", { method: "POST", body: { type: "task", name: "later", allowUnknown: true } })).id,
    );
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, [], "no script errors in any page");
  });

  it("asks for a token, refuses a wrong one with its code, and signs a viewer in", async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}/runs/${runId}`);
    await page.waitForSelector("#login", WAIT);
    await screenshot(page, "login");
    await page.fill("#token", "kiln_not_a_real_token");
    await page.click('#login button[type="submit"]');
    await page.waitForSelector('#login-error [data-error-code="UNAUTHENTICATED"]', WAIT);
    await page.fill("#token", viewer);
    await page.click('#login button[type="submit"]');
    // Signing in opens the page that was asked for.
    await page.waitForSelector('#run-title [data-status="queued"]', WAIT);
    assert.equal(await page.textContent("#session .chip"), "viewer");
  });

  it("shows a viewer no action buttons; the API refuses the viewer's cancel; the token stays out of the page", async () => {
    const page = await signIn(viewer);
    assert.ok(await page.$(`tr[data-run-id="${runId}"]`), "the viewer sees the run");
    assert.equal(await page.$('a[href="/tokens"]'), null, "no tokens page for a viewer");
    await page.goto(`${server.url}/runs/${runId}`);
    await page.waitForSelector('#run-title [data-status="queued"]', WAIT);
    assert.equal(await page.$("#actions button"), null, "no cancel or retry button");
    await screenshot(page, "run-viewer");
    const refused = await page.evaluate(async (id) => {
      const res = await fetch(`/v1/runs/${id}/cancel`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    }, runId);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, "FORBIDDEN");
    // A string expression: this file is type-checked without the DOM library.
    const kept = (await page.evaluate(
      "({ cookie: document.cookie, local: JSON.stringify(localStorage), session: JSON.stringify(sessionStorage), url: location.href })",
    )) as Record<string, string>;
    for (const [where, text] of Object.entries(kept)) assert.ok(!text.includes(viewer), `no token in ${where}`);
    await page.goto(`${server.url}/secrets`);
    await page.waitForSelector(".empty", WAIT);
    assert.match((await page.textContent(".empty")) ?? "", /admins and developers/);
    await page.click("#sign-out");
    await page.waitForSelector("#login", WAIT);
  });

  it("gives an admin the buttons: cancel works from the UI, and the tokens page lists tokens", async () => {
    const page = await signIn(admin);
    await page.goto(`${server.url}/runs/${runId}`);
    await page.click('button[data-action="cancel"]');
    await page.waitForSelector('#run-title [data-status="cancelled"]', WAIT);
    await page.goto(`${server.url}/tokens`);
    await page.waitForSelector('#tokens td:text-is("ui-viewer")', WAIT);
    await screenshot(page, "tokens-admin");
    // The session ends behind the page's back: the next page asks for a token again.
    await page.context().clearCookies();
    await page.click('nav a:text-is("Runs")');
    await page.waitForSelector("#login", WAIT);
  });
});
