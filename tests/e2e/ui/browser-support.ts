/** Helpers of the browser tests: Debian's chromium driven by playwright-core, screenshots. */
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";

/** Where every page's screenshot goes (git-ignored; CI keeps the folder). */
export const SCREENSHOT_DIR = fileURLToPath(new URL("../../../test-results/ui/", import.meta.url));

/** The chromium binary: KILN_CHROMIUM, else Debian's package (`.ci/run` installs it when missing). */
export function chromiumPath(): string {
  const path = process.env.KILN_CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(path)) {
    throw new Error(`No chromium at ${path}: install it (apt-get install -y chromium) or set KILN_CHROMIUM`);
  }
  return path;
}

/** Launches headless chromium; as root it needs --no-sandbox (chromium refuses to start otherwise). */
export async function launchBrowser(): Promise<Browser> {
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  return await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: root ? ["--no-sandbox"] : [],
  });
}

/** Saves a full-page screenshot as test-results/ui/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, fullPage: true });
}
