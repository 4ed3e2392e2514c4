/**
 * The Schedules and Webhooks pages in a real browser (Debian's chromium via playwright-core)
 * against a real `kiln dev`: a schedule, an incoming webhook and an outgoing subscription created
 * with the CLI show up; the schedule's detail lists its next fire times; Trigger now starts a run;
 * Pause (with a note) pauses it, which the API confirms; a delivery shows its response code,
 * attempts and latency; a viewer on `kiln server` gets no action buttons. Screenshots go to
 * test-results/ui/
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext } from "playwright-core";
import { eventually, type KilnProcess, kiln, startKiln } from "../cli-support.ts";
import { launchBrowser, screenshot } from "./browser-support.ts";
import { createUiProject } from "./ui-project.ts";

const WAIT = { timeout: 60_000 };

describe("web UI: schedules and webhooks", { timeout: 300_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let browser: Browser;
  let context: BrowserContext;
  let receiver: Server;
  let received = 0;
  const problems: string[] = [];
  const cli = (...args: string[]) => kiln(["--server", dev.url, "--data", join(dir, ".kiln"), ...args]);
  const apiGet = async <T>(path: string): Promise<T> => (await (await fetch(`${dev.url}${path}`)).json()) as T;

  const open = async (path: string) => {
    const page = await context.newPage();
    page.on("pageerror", (error) => problems.push(`${path}: ${error.message}`));
    await page.goto(`${dev.url}${path}`);
    return page;
  };

  before(async () => {
    dir = createUiProject();
    dev = await startKiln(["dev", "--port", "0"], dir);
    receiver = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        received++;
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    await dev?.stop();
    await new Promise((resolve) => receiver?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, [], "no script errors in any page");
  });

  it("says what to do when there are no schedules or webhooks yet", async () => {
    const schedules = await open("/schedules");
    await schedules.waitForSelector(".empty", WAIT);
    assert.match((await schedules.textContent(".empty")) ?? "", /No schedules yet — add schedules: to kiln\.yaml/);
    await screenshot(schedules, "schedules-empty");
    const webhooks = await open("/webhooks");
    await webhooks.waitForSelector(".empty", WAIT);
    const text = (await webhooks.textContent("main")) ?? "";
    assert.match(text, /No incoming webhooks yet/);
    assert.match(text, /No outgoing subscriptions yet/);
    assert.match(text, /No deliveries yet/);
    await screenshot(webhooks, "webhooks-empty");
    await schedules.close();
    await webhooks.close();
  });

  it("lists a schedule created with the CLI, shows its next fire times, triggers and pauses it", async () => {
    const created = await cli(
      "schedules",
      "create",
      "nightly",
      "--cron",
      "0 3 * * *",
      "--timezone",
      "Europe/Paris",
      "--task",
      "hello",
      "--input",
      '{"name":"cron"}',
    );
    assert.equal(created.code, 0, created.err);
    const page = await open("/schedules");
    const row = await page.waitForSelector('tr[data-schedule-id="nightly"]', WAIT);
    const rowText = (await row.textContent()) ?? "";
    assert.match(rowText, /task hello/);
    assert.match(rowText, /0 3 \* \* \* Europe\/Paris/);
    assert.match(rowText, /active/);
    assert.match(rowText, /none yet/);
    await screenshot(page, "schedules");

    // The detail view is a deep link: the next 5 fire times, then Trigger now starts a run.
    await page.click('#schedules a[href^="/schedules/nightly"]');
    await page.waitForURL(/\/schedules\/nightly(\?|$)/, WAIT);
    await page.waitForSelector("#next-fires li", WAIT);
    assert.equal(await page.locator("#next-fires li").count(), 5);
    await page.click("#schedule-info button[data-trigger]");
    await page.waitForSelector('#recent-fires [data-status="started"]', WAIT);
    const runLink = await page.getAttribute("#recent-fires a[href^='/runs/']", "href");
    assert.ok(runLink, "the fire links its run");

    // Pause with a note (the prompt), see it paused here and through the API.
    page.once("dialog", (dialog) => void dialog.accept("maintenance window"));
    await page.click("#schedule-info button[data-pause]");
    await page.waitForSelector('#schedule-info [data-status="paused"]', WAIT);
    assert.match((await page.textContent("#schedule-info")) ?? "", /maintenance window/);
    assert.ok(await page.$("#schedule-info button[data-resume]"), "a paused schedule offers Resume");
    assert.match((await page.textContent("main")) ?? "", /Paused: no fire times until it is resumed/);
    await screenshot(page, "schedule");
    const viaApi = await apiGet<{ paused: boolean; note: string | null; lastRunId: string | null }>(
      "/v1/schedules/nightly",
    );
    assert.equal(viaApi.paused, true);
    assert.equal(viaApi.note, "maintenance window");
    assert.ok(runLink.startsWith(`/runs/${viaApi.lastRunId}`), `${runLink} links the last run`);

    // The list shows it paused with its note, and the last run.
    const list = await open("/schedules");
    const pausedRow = await list.waitForSelector('tr[data-schedule-id="nightly"] [data-status="paused"]', WAIT);
    assert.ok(pausedRow);
    const listed = (await list.textContent('tr[data-schedule-id="nightly"]')) ?? "";
    assert.match(listed, /maintenance window/);
    assert.ok(listed.includes(viaApi.lastRunId ?? "?"), "the last run is listed");
    await screenshot(list, "schedules-paused");
    await list.close();
    await page.close();
  });

  it("lists incoming webhooks, subscriptions and deliveries with their response code and latency", async () => {
    const endpoint = await cli("webhooks", "create", "deploy-hook", "--workflow", "hello", "--secret-from", "HOOK_KEY");
    assert.equal(endpoint.code, 0, endpoint.err);
    const port = (receiver.address() as AddressInfo).port;
    const sub = await cli(
      "webhooks",
      "subscribe",
      `http://127.0.0.1:${port}/hook`,
      "--events",
      "run.completed",
      "--workflow",
      "hello",
      "--json",
    );
    assert.equal(sub.code, 0, sub.err);
    const started = await cli("start", "hello", "--input", '{"name":"hook"}', "--wait", "--json");
    assert.equal(started.code, 0, started.err);
    await eventually(async () => (received > 0 ? true : undefined), 30_000);
    await eventually(async () => {
      const { items } = await apiGet<{ items: { status: string }[] }>("/v1/webhooks/deliveries");
      return items.length > 0 && items.every((d) => d.status === "delivered") ? true : undefined;
    }, 30_000);

    const page = await open("/webhooks");
    const hook = await page.waitForSelector('tr[data-endpoint="deploy-hook"]', WAIT);
    const hookText = (await hook.textContent()) ?? "";
    assert.match(hookText, /workflow hello/);
    assert.match(hookText, /\/hooks\/default\/deploy-hook/);
    assert.match(hookText, /HOOK_KEY/);
    const subscription = (await page.textContent("#webhook-subscriptions")) ?? "";
    assert.ok(subscription.includes(`http://127.0.0.1:${port}/hook`));
    assert.match(subscription, /run\.completed/);
    const delivery = page.locator("#webhook-deliveries tbody tr").first();
    await page.waitForSelector('#webhook-deliveries [data-status="delivered"]', WAIT);
    assert.equal((await delivery.locator("td").nth(3).textContent())?.trim(), "200");
    assert.equal((await delivery.locator("td").nth(4).textContent())?.trim(), "1");
    // Latency comes from the attempt log, filled in after the table renders.
    await page.waitForFunction(
      "/\\d(ms|s)$/.test(document.querySelector('#webhook-deliveries .latency')?.textContent ?? '')",
      undefined,
      WAIT,
    );
    await screenshot(page, "webhooks");

    // Redeliver sends it again (same delivery, one more attempt).
    const before = received;
    const id = (await page.getAttribute("#webhook-deliveries button[data-redeliver]", "data-redeliver")) ?? "";
    await page.click(`#webhook-deliveries button[data-redeliver="${id}"]`);
    await eventually(async () => (received > before ? true : undefined), 30_000);
    await eventually(async () => {
      const d = await apiGet<{ attempts: number; status: string }>(`/v1/webhooks/deliveries/${encodeURIComponent(id)}`);
      return d.attempts === 2 && d.status === "delivered" ? true : undefined;
    }, 30_000);
    await page.close();
  });
});

describe("web UI: schedules and webhooks for a viewer on kiln server", { timeout: 180_000 }, () => {
  let dir: string;
  let server: KilnProcess;
  let browser: Browser;
  let admin: string;
  let viewer: string;
  const problems: string[] = [];

  const api = async (token: string, path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-ui-triggers-"));
    server = await startKiln(["server", "--db", join(dir, "kiln.db"), "--port", "0", "--data", join(dir, "data")], dir);
    admin = readFileSync(join(dir, "data", "admin-token"), "utf8").trim();
    viewer = String(
      (await api(admin, "/v1/tokens", { method: "POST", body: { name: "ui-viewer", role: "viewer" } })).body.token,
    );
    const schedule = await api(admin, "/v1/schedules", {
      method: "POST",
      body: { id: "hourly-report", cron: "@hourly", task: "report" },
    });
    assert.equal(schedule.status, 201, JSON.stringify(schedule.body));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, [], "no script errors in any page");
  });

  it("shows a viewer the schedule without Pause/Resume/Trigger buttons; the API refuses the viewer's pause", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(`${server.url}/schedules/hourly-report`);
    await page.waitForSelector("#login", WAIT);
    await page.fill("#token", viewer);
    await page.click('#login button[type="submit"]');
    // Signing in opens the deep link that was asked for.
    await page.waitForSelector("#schedule-info", WAIT);
    assert.equal(await page.locator("#next-fires li").count(), 5);
    assert.equal(await page.$("#schedule-info button"), null, "no action buttons for a viewer");
    assert.match((await page.textContent("main")) ?? "", /No fires yet\./);
    await screenshot(page, "schedule-viewer");
    await page.goto(`${server.url}/schedules`);
    await page.waitForSelector('tr[data-schedule-id="hourly-report"]', WAIT);
    assert.equal(await page.$("#schedules button"), null);
    await page.goto(`${server.url}/webhooks`);
    await page.waitForSelector("#webhook-endpoints, .empty", WAIT);
    assert.match((await page.textContent("main")) ?? "", /No incoming webhooks yet/);
    const refused = await api(viewer, "/v1/schedules/hourly-report/pause", { method: "POST", body: {} });
    assert.equal(refused.status, 403);
    assert.equal((await api(admin, "/v1/schedules/hourly-report")).body.paused, false);
    await context.close();
  });
});
