/**
 * Workflow host benchmarks (issue 5): the time a warm JS host and a warm Python host add to one
 * activation, and the throughput of a deployed three-step JS workflow against the same workflow
 * in-process. Each figure is the median of several runs. SQLite file store.
 * Usage: `node --import tsx bench/hosts.bench.ts [--quick] [--only added|throughput]`.
 */
import { DeployedWorkflowResolver, InMemoryWorkflowSource } from "../src/runtimes/deployed-workflows.ts";
import { HostPool } from "../src/runtimes/host-pool.ts";
import { HostRunner } from "../src/runtimes/host-runner.ts";
import type { HostRuntime } from "../src/runtimes/protocol.ts";
import type { Store } from "../src/store/store.ts";
import { Worker } from "../src/worker/worker.ts";
import type { WorkflowContext } from "../src/workflow/workflow-context.ts";
import { freshStore, median, repeat, round, until } from "./support.ts";

const quick = process.argv.includes("--quick");
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const RUNS = quick ? 3 : 7;
const rows: { name: string; value: number; unit: string; target: string }[] = [];

function report(name: string, value: number, unit: string, target: string, samples: number[]) {
  rows.push({ name, value, unit, target });
  console.log(JSON.stringify({ name, value, unit, target, samples: samples.map((s) => round(s, 3)) }));
}

const ONE_STEP_JS = `async function workflow(input, { step }) { return await step("a", () => 1); }`;
const ONE_STEP_PY = `def workflow(input, ctx):\n    return ctx.step("a", lambda: 1)\n`;
const THREE_STEP_JS = `async function workflow(input, { step }) {
  const a = await step("a", () => 1);
  const b = await step("b", () => a + 1);
  return await step("c", () => b + 1);
}`;

async function oneStep(_input: unknown, { step }: WorkflowContext) {
  return await step("a", () => 1);
}

async function threeStep(_input: unknown, { step }: WorkflowContext) {
  const a = await step("a", () => 1);
  const b = await step("b", () => a + 1);
  return await step("c", () => b + 1);
}

/** A worker on `store`, with `fn` in-process or `source` deployed to warm hosts. */
async function setup(
  store: Store,
  p: {
    fn?: typeof oneStep;
    source?: string;
    runtime?: HostRuntime;
    concurrency: number;
    hosts?: number;
    pool?: HostPool;
  },
): Promise<{ worker: Worker; pool: HostPool | null }> {
  const worker = new Worker({
    client: store,
    namespace: "bench",
    concurrency: p.concurrency,
    batchSize: 100,
  });
  if (p.fn) {
    worker.registry.addWorkflow({ name: "wf", version: null, fn: p.fn });
    return { worker, pool: null };
  }
  const source = new InMemoryWorkflowSource();
  await source.deploy({ namespace: "bench", name: "wf", runtime: p.runtime ?? "node", source: p.source ?? "" });
  const pool = p.pool ?? new HostPool(p.hosts === undefined ? {} : { size: p.hosts });
  await pool.warm(p.runtime ?? "node");
  worker.registry.addResolver(new DeployedWorkflowResolver({ source, runner: new HostRunner(pool), cacheMs: 60_000 }));
  return { worker, pool };
}

/** Median ms of one sequential activation (start, claim, activate, finish) over `count` runs. */
async function sequential(p: { fn?: typeof oneStep; source?: string; runtime?: HostRuntime }, count: number) {
  const { store, dispose } = await freshStore("sqlite");
  const { worker, pool } = await setup(store, { ...p, concurrency: 1, hosts: 1 });
  try {
    const times: number[] = [];
    for (let i = 0; i < count + 20; i++) {
      await store.startRun({ namespace: "bench", type: "workflow", name: "wf" });
      const t0 = performance.now();
      if ((await worker.tick()) !== 1) throw new Error("expected one activation");
      if (i >= 20) times.push(performance.now() - t0); // The first ones load the code.
    }
    const done = await store.listRuns({ namespace: "bench", status: "completed", limit: 1000 });
    if (done.runs.length !== Math.min(1000, count + 20)) throw new Error("runs did not complete");
    return median(times);
  } finally {
    await pool?.close();
    await dispose();
  }
}

/** Three-step workflows/s with the worker at concurrency 50 (hosts: `pool`, else a new default pool). */
async function throughput(p: { fn?: typeof oneStep; source?: string; pool?: HostPool }, count: number) {
  const { store, dispose } = await freshStore("sqlite");
  const { worker, pool } = await setup(store, { ...p, concurrency: 50 });
  try {
    await store.startRuns({
      runs: Array.from({ length: count }, () => ({ namespace: "bench", type: "workflow" as const, name: "wf" })),
    });
    const started = performance.now();
    await worker.start();
    await until(async () => worker.processed >= count, 2);
    const elapsed = performance.now() - started;
    await worker.stop();
    const left = await store.listRuns({ namespace: "bench", status: ["queued", "running", "failed"], limit: 1 });
    if (left.runs.length > 0) throw new Error(`a run did not complete: ${JSON.stringify(left.runs[0]?.error)}`);
    return count / (elapsed / 1000);
  } finally {
    if (pool !== p.pool) await pool?.close();
    await dispose();
  }
}

if (!only || only === "added") {
  const count = quick ? 100 : 300;
  const inProcess = await repeat(RUNS, () => sequential({ fn: oneStep }, count));
  const js = await repeat(RUNS, () => sequential({ source: ONE_STEP_JS, runtime: "node" }, count));
  const py = await repeat(RUNS, () => sequential({ source: ONE_STEP_PY, runtime: "python" }, count));
  report("one-step activation in-process (sequential, p50)", round(median(inProcess), 3), "ms", "—", inProcess);
  const jsAdded = js.map((v, i) => v - (inProcess[i] ?? 0));
  const pyAdded = py.map((v, i) => v - (inProcess[i] ?? 0));
  report("warm JS host: added per activation", round(median(jsAdded), 3), "ms", "≤ 2", jsAdded);
  report("warm Python host: added per activation", round(median(pyAdded), 3), "ms", "≤ 5", pyAdded);
}
if (!only || only === "throughput") {
  const count = quick ? 1000 : 3000;
  // Steady state on both sides: hosts live long, so the deployed runs share one pool whose hosts
  // have loaded the code and warmed their JIT in an untimed run, as the in-process runs share
  // this process, warmed the same way. (A new host per sample ran much of it in cold code.)
  const pool = new HostPool();
  await pool.warm("node");
  try {
    await throughput({ fn: threeStep }, count);
    await throughput({ source: THREE_STEP_JS, pool }, count);
    // Interleaved, so drift of the machine affects both sides of each ratio alike.
    const inProcess: number[] = [];
    const deployed: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      inProcess.push(await throughput({ fn: threeStep }, count));
      deployed.push(await throughput({ source: THREE_STEP_JS, pool }, count));
    }
    const ratio = deployed.map((v, i) => (100 * v) / (inProcess[i] ?? 1));
    report("three-step in-process (concurrency 50)", round(median(inProcess), 0), "workflows/s", "—", inProcess);
    report(
      `three-step deployed JS (${pool.size} warm host${pool.size === 1 ? "" : "s"})`,
      round(median(deployed), 0),
      "workflows/s",
      "—",
      deployed,
    );
    report("deployed / in-process throughput", round(median(ratio), 1), "%", "≥ 50", ratio);
  } finally {
    await pool.close();
  }
}

console.log("\n| benchmark | value | target |\n| --- | --- | --- |");
for (const r of rows) console.log(`| ${r.name} | ${r.value} ${r.unit} | ${r.target} |`);
