/**
 * Server benchmarks (issue 4): the no-op task drain through a remote HTTP worker against the same
 * drain in-process (target ≥ 70 %), and `GET /v1/runs/:id` latency on the loopback (target p50 ≤ 2 ms).
 * Usage: `node --import tsx bench/server.bench.ts [--quick] [--only drain|get-run] [--dialect sqlite|postgres]`.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import { join } from "node:path";
import type { Store } from "../src/store/store.ts";
import type { EngineClient } from "../src/engine/engine-client.ts";
import { HttpEngineClient } from "../src/remote/http-engine-client.ts";
import { Worker } from "../src/worker/worker.ts";
import { type Dialect, freshStore, median, percentile, repeat, round, stopPostgres, until } from "./support.ts";

const quick = process.argv.includes("--quick");
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const dialects: Dialect[] = process.argv.includes("--dialect")
  ? [process.argv[process.argv.indexOf("--dialect") + 1] as Dialect]
  : ["sqlite", "postgres"];
const RUNS = quick ? 1 : 3;

/** Runs `fn` against a Kiln server in a child process on the same store (as in production). */
async function withServer<T>(
  db: { url: string; schema?: string },
  fn: (url: string, token: string) => Promise<T>,
): Promise<T> {
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "server-process.ts")], {
    env: {
      ...process.env,
      KILN_BENCH_DB: db.url,
      ...(db.schema === undefined ? {} : { KILN_BENCH_SCHEMA: db.schema }),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")));
      });
      child.once("exit", (code) => reject(new Error(`the server process exited (${code})`)));
    });
    const { url, token } = JSON.parse(line) as { url: string; token: string };
    return await fn(url, token);
  } finally {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}

/** Drains `count` no-op task runs with one worker (concurrency 50) over `client`; runs/s. */
async function drainWith(store: Store, client: EngineClient, count: number): Promise<number> {
  for (let i = 0; i < count; i += 1000) {
    await store.startRuns({
      runs: Array.from({ length: Math.min(1000, count - i) }, () => ({
        namespace: "bench",
        type: "task" as const,
        name: "noop",
      })),
    });
  }
  const worker = new Worker({ client, namespace: "bench", concurrency: 50, batchSize: 100 });
  worker.registry.addTask({ kind: "noop", handler: async () => null, retryPolicy: null, settings: {} });
  const started = performance.now();
  await worker.start();
  await until(async () => worker.processed >= count, 2);
  const elapsed = performance.now() - started;
  await worker.stop();
  return count / (elapsed / 1000);
}

async function drain(dialect: Dialect, remote: boolean, count: number): Promise<number> {
  const db = await freshStore(dialect);
  const { store, dispose } = db;
  try {
    await store.createNamespace({ name: "bench" });
    if (!remote) return await drainWith(store, store, count);
    return await withServer(db, async (url, token) => {
      const client = new HttpEngineClient({ url, token, namespace: "bench" });
      try {
        return await drainWith(store, client, count);
      } finally {
        client.close();
      }
    });
  } finally {
    await dispose();
  }
}

/** p50 and p99 of `GET /v1/runs/:id` (a run with 3 steps) over keep-alive HTTP, in ms. */
async function getRunLatency(dialect: Dialect, samples: number): Promise<{ p50: number; p99: number }> {
  const db = await freshStore(dialect);
  const { store, dispose } = db;
  try {
    const { run } = await store.startRun({ namespace: "default", type: "workflow", name: "w", input: { a: 1 } });
    const { runs } = await store.claimRuns({
      namespace: "default",
      queues: ["default"],
      owner: "o",
      limit: 1,
      leaseMs: 60_000,
    });
    const leaseToken = runs[0]?.run.leaseToken ?? 0;
    await store.saveSteps({
      steps: ["a", "b", "c"].map((name, seq) => ({
        runId: run.id,
        leaseToken,
        name,
        seq,
        type: "step" as const,
        status: "completed" as const,
        output: { seq },
      })),
    });
    return await withServer(db, async (url, token) => {
      const headers = { authorization: `Bearer ${token}` };
      const agent = new http.Agent({ keepAlive: true });
      const get = () =>
        new Promise<number>((resolve, reject) => {
          http
            .get(`${url}/v1/runs/${run.id}`, { agent, headers }, (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
            })
            .on("error", reject);
        });
      for (let i = 0; i < 200; i++) await get();
      const times: number[] = [];
      for (let i = 0; i < samples; i++) {
        const t0 = performance.now();
        const status = await get();
        times.push(performance.now() - t0);
        if (status !== 200) throw new Error(`GET /v1/runs/:id answered ${status}`);
      }
      agent.destroy();
      return { p50: percentile(times, 50), p99: percentile(times, 99) };
    });
  } finally {
    await dispose();
  }
}

const rows: string[] = [];
try {
  for (const dialect of dialects) {
    if (only === undefined || only === "drain") {
      const count = quick ? 2000 : 10_000;
      // In-process and remote samples alternate, so that other load on the machine weighs on both.
      const samples = await repeat(RUNS, async () => ({
        local: await drain(dialect, false, count),
        remote: await drain(dialect, true, count),
      }));
      const local = median(samples.map((x) => x.local));
      const remote = median(samples.map((x) => x.remote));
      const ratio = remote / local;
      console.log(
        JSON.stringify({
          name: "drain",
          dialect,
          inProcess: round(local),
          remote: round(remote),
          ratio: round(ratio, 2),
          samples: samples.map((x) => [round(x.local), round(x.remote)]),
        }),
      );
      rows.push(
        `| task drain, remote HTTP worker vs in-process | ${dialect} | ${round(remote)} vs ${round(local)} runs/s = ${Math.round(ratio * 100)} % | ≥ 70 % |`,
      );
    }
    if (only === undefined || only === "get-run") {
      const { p50, p99 } = await getRunLatency(dialect, quick ? 500 : 3000);
      console.log(JSON.stringify({ name: "get-run", dialect, p50: round(p50), p99: round(p99) }));
      rows.push(
        `| GET /v1/runs/:id (3 steps), loopback | ${dialect} | p50 ${round(p50)} ms, p99 ${round(p99)} ms | p50 ≤ 2 ms |`,
      );
    }
  }
} finally {
  await stopPostgres();
}
console.log(["", "| benchmark | store | result | target |", "| --- | --- | --- | --- |", ...rows].join("\n"));
