/**
 * The web UI's sign-in with an account on a `kiln server`, in a real browser: once an account
 * exists the page asks for a name and password, refuses a wrong password with its code, and signs
 * the account in with an HttpOnly session cookie; a token still signs in through the same form.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { type KilnProcess, startKiln } from "../cli-support.ts";
import { launchBrowser } from "./browser-support.ts";

const WAIT = { timeout: 60_000 };

describe("web UI sign-in with an account", { timeout: 180_000 }, () => {
  let dir: string;
  let server: KilnProcess;
  let browser: Browser;
  let admin: string;
  const problems: string[] = [];

  const page = async (): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await context.newPage();
    p.on("pageerror", (error) => problems.push(error.message));
    await p.goto(server.url);
    await p.waitForSelector("#login", WAIT);
    return p;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-ui-accounts-"));
    server = await startKiln(["server", "--db", join(dir, "kiln.db"), "--port", "0", "--data", join(dir, "data")], dir);
    admin = readFileSync(join(dir, "data", "admin-token"), "utf8").trim();
    const res = await fetch(`${server.url}/v1/accounts`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "ana", role: "developer", namespace: "default", password: "ana-password-1" }),
    });
    assert.equal(res.status, 201);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, [], "no script errors in any page");
  });

  it("asks for a name and password, refuses a wrong one, and signs the account in", async () => {
    const p = await page();
    await p.fill("#account-name", "ana");
    await p.fill("#account-password", "not-her-password");
    await p.click('#login button[type="submit"]');
    await p.waitForSelector('#login-error [data-error-code="UNAUTHENTICATED"]', WAIT);
    await p.fill("#account-password", "ana-password-1");
    await p.click('#login button[type="submit"]');
    await p.waitForSelector("#run-filters", WAIT);
    assert.match((await p.textContent("#session")) ?? "", /ana · developer/);
    const cookies = await p.context().cookies();
    const session = cookies.find((c) => c.name === "kiln_session");
    assert.ok(session?.value.startsWith("as.") && session.httpOnly, "an HttpOnly account session cookie");
    assert.equal(await p.evaluate("document.cookie"), "", "no script can read it");
    await p.click("#sign-out");
    await p.waitForSelector("#account-name", WAIT);
  });

  it("still signs a token in through the same form (name left empty)", async () => {
    const p = await page();
    await p.fill("#account-password", admin);
    await p.click('#login button[type="submit"]');
    await p.waitForSelector("#run-filters", WAIT);
    assert.match((await p.textContent("#session")) ?? "", /admin/);
  });
});
