/**
 * Webhook ingest (issue 12): signed `POST /hooks/{namespace}/{name}` → run queued, requests/s, on
 * SQLite and PostgreSQL. A Kiln server (no worker, rate limits off) listens on the loopback; the
 * load comes from this process over keep-alive connections, each request a new Standard Webhooks
 * message (signature checked, message id deduped through the run's idempotency key, run inserted).
 * Usage: `node --import tsx bench/webhooks.bench.ts [--quick] [--dialect sqlite|postgres]`.
 */
import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { silentLogger } from "../src/server/logger.ts";
import { startServer } from "../src/server/start-server.ts";
import { type Dialect, freshStore, median, percentile, repeat, round, stopPostgres } from "./support.ts";

const quick = process.argv.includes("--quick");
const dialects: Dialect[] = process.argv.includes("--dialect")
  ? [process.argv[process.argv.indexOf("--dialect") + 1] as Dialect]
  : ["sqlite", "postgres"];
const RUNS = quick ? 1 : 3;
const REQUESTS = quick ? 500 : 5000;
const CONCURRENCY = 32;
const SECRET = `whsec_${Buffer.from("kiln webhook ingest benchmark key").toString("base64")}`;

function post(agent: http.Agent, url: URL, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** One measurement: requests/s and latency percentiles (ms) of REQUESTS signed posts. */
async function ingest(dialect: Dialect, round_: number) {
  const db = await freshStore(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), "kiln-bench-hooks-"));
  const server = await startServer({
    store: db.store,
    dataDir,
    port: 0,
    logger: silentLogger(),
    rateLimit: false,
    housekeeping: false,
    adminToken: false,
  });
  try {
    await db.store.createNamespace({ name: "bench" });
    await db.store.deployWorkflow({ namespace: "bench", name: "on-event", runtime: "flow", source: "nodes: {}\n" });
    await server.app.deps.vault.set({ namespace: "bench", name: "HOOK_KEY", value: SECRET });
    await db.store.webhooks.putWebhookEndpoint({
      namespace: "bench",
      name: "ingest",
      workflow: "on-event",
      runType: "workflow",
      secretName: "HOOK_KEY",
      scheme: "standard",
      inputMap: null,
      source: "api",
    });
    const url = new URL(`${server.url}/hooks/bench/ingest`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const wh = new Webhook(SECRET);
    const latencies: number[] = [];
    let next = 0;
    let failed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) {
          const i = next++;
          const body = JSON.stringify({ event: "order.paid", order: i, round: round_ });
          const id = `msg_${round_}_${i}`;
          const at = new Date();
          const t0 = performance.now();
          const status = await post(
            agent,
            url,
            {
              "content-type": "application/json",
              "content-length": String(Buffer.byteLength(body)),
              "webhook-id": id,
              "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
              "webhook-signature": wh.sign(id, at, body),
            },
            body,
          );
          latencies.push(performance.now() - t0);
          if (status !== 202) failed++;
        }
      }),
    );
    const elapsed = performance.now() - started;
    agent.destroy();
    const queued = (await db.store.countRuns({ namespace: "bench" })).reduce((n, c) => n + c.count, 0);
    if (failed > 0 || queued !== REQUESTS) {
      throw new Error(`${failed} requests failed; ${queued} of ${REQUESTS} runs queued`);
    }
    return {
      perSecond: REQUESTS / (elapsed / 1000),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
    };
  } finally {
    await server.close();
    await db.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

try {
  for (const dialect of dialects) {
    const results = await repeat(RUNS, (i) => ingest(dialect, i));
    const rates = results.map((r) => r.perSecond);
    console.log(
      JSON.stringify({
        benchmark: "webhook ingest (signed POST → run queued)",
        dialect,
        requests: REQUESTS,
        concurrency: CONCURRENCY,
        requestsPerSecond: round(median(rates), 0),
        samples: rates.map((r) => round(r, 0)),
        p50Ms: round(median(results.map((r) => r.p50)), 2),
        p99Ms: round(median(results.map((r) => r.p99)), 2),
      }),
    );
  }
} finally {
  await stopPostgres();
}
