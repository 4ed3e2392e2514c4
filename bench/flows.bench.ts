/**
 * YAML flows end to end (issue 6: a 100-node linear flow of transforms in ≤ 200 ms on SQLite):
 * start a run of a 100-node chain of `transform` nodes on a SQLite file store, let a worker run
 * it (100 recorded steps, one QuickJS script each), read it back completed. Reports the median of
 * 3 runs after one warm-up run (the warm-up compiles the scripts; its time is printed too).
 * Usage: `node --import tsx bench/flows.bench.ts [--nodes N] [--runs N]`.
 */
import { createFlowDeps } from "../src/flow/run/flow-deps.ts";
import { compileFlowSource } from "../src/flow/run/flow-runtime.ts";
import { Worker } from "../src/worker/worker.ts";
import { freshStore, median, round } from "./support.ts";

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const NODES = arg("nodes", 100);
const RUNS = arg("runs", 3);
const TARGET_MS = 200;

/** A chain of NODES transforms (each its own script), each adding one to a counter and keeping a small payload. */
function linearFlow(nodes: number): string {
  const lines = ["metadata: { name: linear }", "nodes:"];
  for (let i = 0; i < nodes; i++) {
    const next = i + 1 < nodes ? `, next: n${i + 1}` : "";
    lines.push(
      `  n${i}: { type: transform, params: { script: "return { count: input.count + 1, tag: input.tag, at: ${i} }" }${next} }`,
    );
  }
  return `${lines.join("\n")}\n`;
}

const deps = await createFlowDeps();
const { store, dispose } = await freshStore("sqlite");
try {
  const worker = new Worker({ client: store, namespace: "bench", concurrency: 1, sweep: false });
  worker.registry.addWorkflow({
    name: "linear",
    version: null,
    fn: compileFlowSource(linearFlow(NODES), "linear", deps),
  });

  /** One run end to end: start, execute every node, read the completed run. */
  const once = async (): Promise<number> => {
    const started = performance.now();
    const { run } = await store.startRun({
      namespace: "bench",
      type: "workflow",
      name: "linear",
      input: { count: 0, tag: "x" },
    });
    await worker.drain();
    const done = await store.getRun({ namespace: "bench", id: run.id });
    const elapsed = performance.now() - started;
    if (done?.status !== "completed" || (done.output as { count: number }).count !== NODES) {
      throw new Error(`The flow did not complete: ${JSON.stringify(done?.error ?? done?.status)}`);
    }
    return elapsed;
  };

  const warmup = await once();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await once());
  const value = median(samples);
  const line = {
    name: `flow: ${NODES}-node linear transforms, end to end`,
    dialect: "sqlite",
    value: round(value),
    unit: "ms",
    target: `<= ${TARGET_MS} ms`,
    samples: samples.map((s) => round(s)),
    warmup: round(warmup),
    perNodeMs: round(value / NODES, 3),
  };
  console.log(JSON.stringify(line));
  console.log(
    `\n| benchmark | store | median | target |\n| --- | --- | --- | --- |\n| ${line.name} | sqlite | ${line.value} ms | ${line.target} ${value <= TARGET_MS ? "✓" : "✗"} |`,
  );
} finally {
  await dispose();
  deps.dispose();
}
