/**
 * Regenerates the README's UI screenshots (docs/img/ui-runs.png, docs/img/ui-run.png): a real
 * `kiln dev` on the browser tests' project, a few runs, headless chromium.
 *
 *   node --import tsx scripts/ui-screenshots.ts
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startKiln } from "../tests/e2e/cli-support.ts";
import { launchBrowser } from "../tests/e2e/ui/browser-support.ts";
import { createUiProject } from "../tests/e2e/ui/ui-project.ts";

const out = fileURLToPath(new URL("../docs/img/", import.meta.url));
const dir = createUiProject();
const dev = await startKiln(["dev", "--port", "0"], dir);
const browser = await launchBrowser();
try {
  const start = async (body: Record<string, unknown>) => {
    const res = await fetch(`${dev.url}/v1/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return ((await res.json()) as { id: string }).id;
  };
  await start({ type: "task", name: "flaky" });
  await start({ type: "workflow", name: "booking", input: { key: "b-1" } });
  await start({ type: "workflow", name: "approval", input: { order: "A-1", amount: 12 } });
  const release = join(dir, "release");
  await start({ type: "task", name: "slow-logs", input: { name: "nightly", release } });
  const hello = await start({ type: "workflow", name: "hello", input: { name: "Ada" } });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 }, colorScheme: "light" });
  await page.goto(`${dev.url}/runs/${hello}`);
  await page.waitForSelector('#run-title [data-status="completed"]', { timeout: 60_000 });
  writeFileSync(release, "");
  mkdirSync(out, { recursive: true });
  await page.screenshot({ path: join(out, "ui-run.png"), fullPage: true });
  await page.goto(`${dev.url}/`);
  await page.waitForSelector('#runs [data-status="waiting"]', { timeout: 60_000 });
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(out, "ui-runs.png") });
  console.log(`wrote ${join(out, "ui-runs.png")} and ${join(out, "ui-run.png")}`);
} finally {
  await browser.close();
  await dev.stop();
  rmSync(dir, { recursive: true, force: true });
}
