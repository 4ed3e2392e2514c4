/**
 * The web UI's benchmark: the gzip size of its assets, and the runs page's first render with
 * 10,000 runs in the store (median of 5 page loads in headless chromium against `kiln server`
 * on SQLite). Writes the figures into BENCHMARKS.md's "Web UI" section.
 *
 *   node --import tsx bench/ui.bench.ts [--runs 10000] [--no-write]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { readUiAssets, uiBundle } from "../src/server/ui-assets.ts";
import { openStore } from "../src/store/open-store.ts";
import { startKiln } from "../tests/e2e/cli-support.ts";
import { launchBrowser } from "../tests/e2e/ui/browser-support.ts";

const argv = process.argv.slice(2);
const RUNS = Number(argv[argv.indexOf("--runs") + 1] ?? 10_000) || 10_000;
const LOADS = 5;

function assetSizes() {
  const html = readFileSync(new URL("../src/ui/index.html", import.meta.url));
  let raw = html.length;
  let gzip = gzipSync(html).length;
  // What a browser loads: the page, the styles and the bundled script.
  for (const body of [readUiAssets().get("styles.css")?.body ?? "", uiBundle()]) {
    raw += Buffer.byteLength(body);
    gzip += gzipSync(body).length;
  }
  return { raw, gzip };
}

interface Load {
  /** Navigation start → the runs page marked its first render. */
  readonly renderMs: number;
  /** The GET /v1/runs request of that render (request start → response end). */
  readonly apiMs: number;
}

async function firstRenders(): Promise<Load[]> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-ui-bench-"));
  const db = join(dir, "kiln.db");
  const store = await openStore(db);
  const names = ["etl", "report", "backup", "deploy", "notify"];
  for (let i = 0; i < RUNS; i += 1000) {
    const runs = Array.from({ length: Math.min(1000, RUNS - i) }, (_, j) => ({
      namespace: "default",
      type: "task" as const,
      name: names[(i + j) % names.length] as string,
      input: { n: i + j },
      version: null,
    }));
    await store.startRuns({ runs });
  }
  await store.close();
  const server = await startKiln(["server", "--db", db, "--port", "0", "--data", join(dir, "data")], dir);
  const browser = await launchBrowser();
  try {
    const token = readFileSync(join(dir, "data", "admin-token"), "utf8").trim();
    const context = await browser.newContext();
    // Sign the browser in through the session route, as the sign-in form does.
    await context.request.post(`${server.url}/v1/session`, { data: { token } });
    const times: Load[] = [];
    for (let i = 0; i < LOADS + 1; i++) {
      const page = await context.newPage();
      await page.goto(`${server.url}/`);
      await page.waitForSelector("#runs tbody tr");
      // Navigation start → the first page of runs is in the DOM (the runs page marks it).
      const load = (await page.evaluate(`({
        renderMs: performance.getEntriesByName("kiln:runs-rendered")[0].startTime,
        apiMs: performance.getEntriesByType("resource").filter((r) => r.name.includes("/v1/runs?"))
          .map((r) => r.responseEnd - r.startTime)[0],
      })`)) as Load;
      if (i > 0) times.push(load); // The first load warms the server's caches.
      await page.close();
    }
    return times;
  } finally {
    await browser.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const sizes = assetSizes();
const load = loadavg()[0]?.toFixed(2);
const loads = await firstRenders();
const times = loads.map((l) => l.renderMs);
const apiTimes = loads.map((l) => l.apiMs);
const when = new Date().toISOString().slice(0, 16).replace("T", " ");
const section = `## Web UI (issue 11)

\`node --import tsx bench/ui.bench.ts\` (writes this section). Run on ${when} UTC, ${cpus().length} vCPU,
Node ${process.versions.node}, headless Debian chromium via playwright-core, \`kiln server\` on SQLite
with ${RUNS.toLocaleString("en")} queued runs; load average ${load} when it started (other jobs shared the machine).

| measure | value | target |
| --- | --- | --- |
| runs page first render (navigation start → first 50 runs in the DOM), median of ${LOADS} | **${Math.round(median(times))} ms** [${times.map((t) => Math.round(t)).join(" ")}] | < 300 ms ${median(times) < 300 ? "✔" : "✘"} |
| of which the \`GET /v1/runs?limit=50\` request, median | ${Math.round(median(apiTimes))} ms [${apiTimes.map((t) => Math.round(t)).join(" ")}] | — |
| UI assets (index.html, styles, the bundled script), gzip | **${(sizes.gzip / 1024).toFixed(1)} kB** (${(sizes.raw / 1024).toFixed(1)} kB raw) | < 300 kB ${sizes.gzip < 300 * 1024 ? "✔" : "✘"} |

The first-render figure is only comparable to its target on an idle machine: with a load average
far above the core count, every request and the browser itself wait for a CPU.
No build step before start: the server bundles the modules with esbuild at its first request for
\`/ui/app.js\` (it does not compress them on the wire).
`;
console.log(section);
if (!argv.includes("--no-write")) {
  const path = new URL("../BENCHMARKS.md", import.meta.url);
  const text = readFileSync(path, "utf8");
  const start = text.indexOf("## Web UI (issue 11)");
  const next = start < 0 ? -1 : text.indexOf("\n## ", start + 1);
  const updated =
    start < 0
      ? `${text.trimEnd()}\n\n${section}`
      : `${text.slice(0, start)}${section}${next < 0 ? "" : text.slice(next)}`;
  writeFileSync(path, updated);
}
