/**
 * The web UI in a real browser (Debian's chromium via playwright-core) against a real `kiln dev`:
 * runs page, starting a workflow and watching it live, the timeline, following a script's logs,
 * cancelling a saga waiting for an event, retrying a failed run, sending an event to a flow.
 * Every page is saved as a screenshot under test-results/ui/.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { type KilnProcess, startKiln } from "../cli-support.ts";
import { launchBrowser, screenshot } from "./browser-support.ts";
import { createUiProject } from "./ui-project.ts";

const WAIT = { timeout: 60_000 };

describe("web UI against kiln dev", { timeout: 300_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let browser: Browser;
  let context: BrowserContext;
  let runsPage: Page;
  const problems: string[] = [];

  const open = async (path: string) => {
    const page = await context.newPage();
    page.on("pageerror", (error) => problems.push(`${path}: ${error.message}`));
    await page.goto(`${dev.url}${path}`);
    return page;
  };
  const runStatus = (page: Page, status: string) => page.waitForSelector(`#run-title [data-status="${status}"]`, WAIT);
  const startFromApi = async (page: Page, body: Record<string, unknown>) =>
    (await page.evaluate(async (b) => {
      const res = await fetch("/v1/runs", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(b),
      });
      return await res.json();
    }, body)) as { id: string };

  before(async () => {
    dir = createUiProject();
    dev = await startKiln(["dev", "--port", "0"], dir);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });

  after(async () => {
    await browser?.close();
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, [], "no script errors in any page");
  });

  it("opens the runs page without a login and says how to start a first run", async () => {
    runsPage = await open("/");
    await runsPage.waitForSelector(".empty", WAIT);
    assert.match((await runsPage.textContent(".empty")) ?? "", /No runs yet — kiln start hello/);
    assert.equal(await runsPage.textContent("#session .chip"), "admin");
    await screenshot(runsPage, "runs-empty");
  });

  it("starts a workflow from the UI and watches it complete live, here and on the runs page", async () => {
    const page = await open("/workflows");
    await page.click('a:text-is("hello")');
    await page.waitForSelector("#source .hl-k", WAIT);
    await screenshot(page, "workflow");
    await page.fill("#start-workflow-input", '{"name":"Ada"}');
    await page.click('#start-workflow button[type="submit"]');
    await page.waitForURL(/\/runs\//, WAIT);
    const runId = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1) ?? "");
    await runStatus(page, "completed");
    assert.match((await page.textContent("#run-output")) ?? "", /Hello, Ada!/);
    // The runs page opened before the run existed shows it, completed, without a reload.
    await runsPage.waitForSelector(`tr[data-run-id="${runId}"] [data-status="completed"]`, WAIT);
    await screenshot(runsPage, "runs");
    // The timeline: a bar per step, the durable sleep drawn as a sleep.
    const types = await page.$$eval("#timeline .bar", (bars) => bars.map((b) => b.getAttribute("data-step-type")));
    assert.ok(types.includes("sleep"), `a sleep bar among ${types.join(", ")}`);
    assert.ok(types.filter((t) => t === "step").length >= 2, `step bars among ${types.join(", ")}`);
    await screenshot(page, "run-completed");
    // The task the workflow started is linked as a child, and links back to its parent.
    await page.click("#run-children a");
    await page.waitForSelector(`#run-summary a[href*="${runId}"]`, WAIT);
    assert.match((await page.textContent("#run-summary")) ?? "", /parent/);
    await page.goBack();
    await runStatus(page, "completed");
    // Deep link and back button: the runs page, then back to the run.
    await page.click('a:text-is("← runs")');
    await page.waitForSelector(`tr[data-run-id="${runId}"]`, WAIT);
    await page.goBack();
    await runStatus(page, "completed");
    assert.equal(new URL(page.url()).pathname, `/runs/${runId}`);
  });

  it("follows a script task's logs while it runs, with levels, a folded group and progress", async () => {
    const page = await open("/tasks");
    await page.waitForSelector("#task-kinds", WAIT);
    await screenshot(page, "tasks");
    await page.click('a:text-is("slow-logs")');
    const release = join(dir, "release-slow-logs");
    await page.fill("#start-task-input", JSON.stringify({ name: "nightly", release }));
    await page.click('#start-task button[type="submit"]');
    await page.waitForURL(/\/runs\//, WAIT);
    await page.waitForSelector('#logs .line:text("tick 3")', WAIT);
    assert.equal(await page.getAttribute("#run-title .chip", "data-status"), "running");
    assert.equal(await page.textContent("#logs details summary"), "setup");
    assert.ok(await page.$('#logs .line[data-level="warning"]'), "the warning line keeps its level");
    await page.waitForSelector('#progress[aria-valuenow="30"]', WAIT);
    await screenshot(page, "run-logs-following");
    writeFileSync(release, "");
    await page.waitForSelector('#logs .line:text("finished")', WAIT);
    await runStatus(page, "completed");
    // Folding: closing the group hides its lines; the lines after `::endgroup::` stay.
    await page.click("#logs details summary");
    assert.equal(await page.isVisible('#logs .line:text("preparing nightly")'), false);
    assert.equal(await page.isVisible('#logs .line:text("tick 1")'), true);
  });

  it("finds a run by idempotency key, filters by time range, lists events and worker slots", async () => {
    const page = await open("/");
    const { id } = await startFromApi(page, {
      type: "workflow",
      name: "hello",
      input: { name: "Key" },
      idempotencyKey: "order-42",
    });
    await page.fill("[data-search]", "order-42");
    await page.press("[data-search]", "Enter");
    await page.waitForURL(new RegExp(`/runs/${id}`), WAIT);
    // A relative range in the URL: the run just started is in the last 15 minutes.
    await page.goto(`${dev.url}/?range=15m`);
    await page.waitForSelector(`tr[data-run-id="${id}"]`, WAIT);
    assert.equal(await page.inputValue('select[name="range"]'), "15m");
    const api = await page.evaluate(async () => {
      const future = (await (await fetch(`/v1/runs?since=${Date.now() + 3_600_000}`)).json()) as { items: unknown[] };
      const bad = await fetch("/v1/runs?since=yesterday-ish");
      const refusal = (await bad.json()) as { error: { code: string } };
      return { future: future.items.length, status: bad.status, code: refusal.error.code };
    });
    assert.deepEqual(api, { future: 0, status: 400, code: "INVALID_INPUT" });
    // Events: a buffered one (nobody waits) is listed, also under "buffered only".
    await page.evaluate(async () => {
      await fetch("/v1/events", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "nobody.listens", key: "k-9", payload: { n: 9 } }),
      });
    });
    await page.goto(`${dev.url}/events?buffered=true`);
    await page.waitForSelector('#events td:has-text("nobody.listens")', WAIT);
    assert.match((await page.textContent("#events")) ?? "", /buffered/);
    await screenshot(page, "events-buffered");
    // Workers report their concurrency: runs held / slots.
    await page.goto(`${dev.url}/tasks`);
    await page.waitForSelector("#workers td.concurrency", WAIT);
    assert.match((await page.textContent("#workers td.concurrency")) ?? "", /^\d+ \/ \d+$/);
  });

  it("cancels a saga waiting for an event and shows its compensation", async () => {
    const page = await open("/");
    const { id } = await startFromApi(page, { type: "workflow", name: "booking", input: { key: "k-1" } });
    await page.goto(`${dev.url}/runs/${id}`);
    await runStatus(page, "waiting");
    assert.match((await page.textContent("#actions")) ?? "", /waits for booking\.confirmed key k-1/);
    await page.click('button[data-action="cancel"]');
    await runStatus(page, "compensated");
    await page.waitForSelector('#timeline .bar[data-step-type="compensation"]', WAIT);
    assert.equal(await page.getAttribute('[data-step="reserve"] .chip', "class"), "chip s-compensated");
    assert.match((await page.textContent("#run-error")) ?? "", /RUN_CANCELLED/);
    await screenshot(page, "run-compensated");
    // Retry from the wait: the reserved room stays, the run waits again in a new attempt.
    await page.selectOption("#retry-from", "confirm");
    await page.click('button[data-action="retry-from"]');
    await runStatus(page, "waiting");
    assert.match((await page.textContent("#run-summary")) ?? "", /attempt2/);
  });

  it("retries a failed run, which then completes", async () => {
    const page = await open("/");
    const { id } = await startFromApi(page, { type: "task", name: "flaky" });
    await page.goto(`${dev.url}/runs/${id}`);
    await runStatus(page, "failed");
    assert.ok(await page.$("#run-error [data-error-code]"), "the error is shown with its code");
    await screenshot(page, "run-failed");
    await page.click('button[data-action="retry"]');
    await runStatus(page, "completed");
    assert.match((await page.textContent("#run-summary")) ?? "", /attempt2/);
  });

  it("sends the event a flow waits for and colours the path it took", async () => {
    const page = await open("/");
    const { id } = await startFromApi(page, { type: "workflow", name: "approval", input: { order: "A-7", amount: 3 } });
    await page.goto(`${dev.url}/runs/${id}`);
    await page.waitForSelector('#flow-graph [data-node="ask"][data-status="waiting"]', WAIT);
    await page.fill("#event-payload", '{"approved":true}');
    await page.click('button[data-action="send-event"]');
    await runStatus(page, "completed");
    await page.waitForSelector('#flow-graph [data-node="ship"][data-status="completed"]', WAIT);
    assert.equal(await page.getAttribute('#flow-graph [data-node="refuse"]', "data-status"), "pending");
    await screenshot(page, "run-flow");
    // The runs page calls it a flow.
    await page.goto(`${dev.url}/?name=approval`);
    await page.waitForSelector(`tr[data-run-id="${id}"] td:text-is("flow")`, WAIT);
  });

  it("checks a flow's input against its schema in the start form, then starts it", async () => {
    const page = await open("/workflows/greet-flow");
    await page.fill("#start-workflow-input", "{}");
    await page.click('#start-workflow button[type="submit"]');
    await page.waitForSelector('#start-workflow [data-error-code="INVALID_INPUT"]', WAIT);
    assert.match((await page.textContent("#start-workflow .form-error")) ?? "", /"name" is required/);
    await page.fill("#start-workflow-input", "not json");
    await page.click('#start-workflow button[type="submit"]');
    await page.waitForSelector('#start-workflow [data-error-code="INVALID_JSON"]', WAIT);
    await page.fill("#start-workflow-input", '{"name":"Ada"}');
    await page.click('#start-workflow button[type="submit"]');
    await runStatus(page, "completed");
    assert.match((await page.textContent("#run-output")) ?? "", /Hi Ada/);
  });

  it("filters runs, shows every other page, and API errors with their code", async () => {
    const page = await open("/?status=failed");
    await page.waitForSelector(".empty", WAIT);
    await page.fill("[data-search]", "no-such-run");
    await page.press("[data-search]", "Enter");
    await page.waitForSelector('[data-error-code="RUN_NOT_FOUND"]', WAIT);
    for (const [path, name, ready] of [
      ["/workflows", "workflows", "#workflows"],
      ["/workflows/approval", "workflow-flow", "#source"],
      ["/events", "events", "#send-event"],
      ["/secrets", "secrets", "#set-secret"],
      ["/tokens", "tokens", "#tokens"],
    ] as const) {
      await page.goto(`${dev.url}${path}`);
      await page.waitForSelector(ready, WAIT);
      await screenshot(page, name);
    }
    // The namespace switcher: another namespace has its own (empty) runs, in the URL.
    const created = await page.evaluate(async () => {
      const res = await fetch("/v1/namespaces", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "team" }),
      });
      return res.status;
    });
    assert.equal(created, 201);
    await page.goto(`${dev.url}/`);
    await page.waitForSelector('#ns-switch option:text-is("team")', { ...WAIT, state: "attached" });
    await page.selectOption("#ns-switch", "team");
    await page.waitForURL(/\?ns=team/, WAIT);
    await page.waitForSelector(".empty", WAIT);
    await page.goto(`${dev.url}/events`);
    await page.waitForSelector("#send-event", WAIT);
    // Keyboard: g then r opens the runs page.
    await page.keyboard.press("g");
    await page.keyboard.press("r");
    await page.waitForSelector("#runs", WAIT);
  });
});
