/**
 * Where the time goes, on PostgreSQL at its default durability: commits per run, statements
 * (round trips) per run, the benchmark process's CPU per run, and the top statements by total
 * time (pg_stat_statements, preloaded in a throwaway cluster). Workloads: a no-op task drain
 * (c=50), three-step workflows started one by one (c=10) and awaited together, and sequential
 * start → waitForRun. Usage: `node --import tsx bench/where-time-goes.bench.ts [--quick]`.
 */
import pg from "pg";
import { Kiln } from "../src/kiln.ts";
import { openStore } from "../src/store/open-store.ts";
import { Worker } from "../src/worker/worker.ts";
import { startThrowawayPostgres } from "../tests/support/postgres-cluster.mjs";
import { threeSteps, until } from "./support.ts";

const quick = process.argv.includes("--quick");
const cluster = await startThrowawayPostgres({ serverDefaults: true, preload: "pg_stat_statements" });
const admin = new pg.Client({ connectionString: cluster.url });
await admin.connect();
await admin.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");

interface Probe {
  readonly commits: number;
  readonly calls: number;
  readonly cpuMs: number;
  readonly wallMs: number;
}

async function commits(): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    "SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()",
  );
  return Number(rows[0]?.n ?? 0);
}

async function measure(label: string, runs: number, body: () => Promise<void>): Promise<void> {
  await admin.query("SELECT pg_stat_statements_reset()");
  await admin.query("SELECT pg_stat_clear_snapshot()");
  const c0 = await commits();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await body();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 600)); // statistics reach pg_stat_database asynchronously
  await admin.query("SELECT pg_stat_clear_snapshot()");
  const c1 = await commits();
  const { rows } = await admin.query<{ query: string; calls: string; total: number; mean: number }>(
    `SELECT query, calls::text, total_exec_time AS total, mean_exec_time AS mean FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC`,
  );
  const probe: Probe = {
    commits: c1 - c0,
    calls: rows.reduce((n, r) => n + Number(r.calls), 0),
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs,
  };
  console.log(
    JSON.stringify({
      label,
      runs,
      commitsPerRun: Number((probe.commits / runs).toFixed(2)),
      statementsPerRun: Number((probe.calls / runs).toFixed(2)),
      clientCpuMsPerRun: Number((probe.cpuMs / runs).toFixed(3)),
      wallMsPerRun: Number((probe.wallMs / runs).toFixed(3)),
    }),
  );
  for (const r of rows.slice(0, 6)) {
    console.log(
      `   ${Number(r.calls) / runs >= 0.01 ? (Number(r.calls) / runs).toFixed(2) : "<0.01"}/run  ${r.total.toFixed(0)} ms total  ${r.mean.toFixed(3)} ms mean  ${r.query.replace(/\s+/g, " ").slice(0, 110)}`,
    );
  }
}

try {
  // A: no-op task drain, 1 worker, concurrency 50.
  {
    const n = quick ? 2000 : 20_000;
    const store = await openStore(cluster.url, { schema: "drain" });
    for (let i = 0; i < n; i += 1000) {
      await store.startRuns({
        runs: Array.from({ length: Math.min(1000, n - i) }, () => ({
          namespace: "b",
          type: "task" as const,
          name: "noop",
          input: null,
        })),
      });
    }
    const worker = new Worker({ client: store, namespace: "b", concurrency: 50 });
    worker.registry.addTask({ kind: "noop", handler: async () => null, retryPolicy: null, settings: {} });
    await measure("A drain c=50 (enqueue excluded)", n, async () => {
      await worker.start();
      await until(async () => worker.processed >= n);
    });
    await worker.stop();
    await store.close();
  }
  // C: three-step workflows started one by one, awaited together; then sequential latency.
  {
    const store = await openStore(cluster.url, { schema: "wf" });
    const kiln = await Kiln.open({ store, namespace: "b", worker: { concurrency: 10, sweep: false } });
    kiln.workflow("three", threeSteps);
    await kiln.start();
    const n = quick ? 300 : 2000;
    await measure("C throughput, 3 steps, started one by one", n, async () => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push((await kiln.startWorkflow("three")).id);
      await Promise.all(ids.map((id) => kiln.waitForRun(id, { timeoutMs: 600_000 })));
    });
    const m = quick ? 50 : 200;
    await measure("C latency, sequential startWorkflow → waitForRun", m, async () => {
      for (let i = 0; i < m; i++) await kiln.waitForRun((await kiln.startWorkflow("three")).id);
    });
    await kiln.close();
    await store.close();
  }
  // The same sequential probe with the opt-in deferred step records (the steps share one commit).
  {
    const store = await openStore(cluster.url, { schema: "wfdefer" });
    const kiln = await Kiln.open({ store, namespace: "b", worker: { concurrency: 10, sweep: false } });
    kiln.workflow("three", threeSteps, { deferStepRecords: true });
    await kiln.start();
    const m = quick ? 50 : 200;
    await measure("C latency, sequential, deferStepRecords (opt-in)", m, async () => {
      for (let i = 0; i < m; i++) await kiln.waitForRun((await kiln.startWorkflow("three")).id);
    });
    await kiln.close();
    await store.close();
  }
} finally {
  await admin.end();
  await cluster.stop();
}
