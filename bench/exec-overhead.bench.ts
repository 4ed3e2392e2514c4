// Overhead of the script executor over a raw spawn, for `/bin/true` as a task kind (issue 3):
// p50 latency of one attempt (paired with a raw spawn, interleaved), and parallel throughput at
// concurrency 8 as a share of the raw parallel spawn rate measured in the same run. The raw spawn
// has the same stdio as a script (no stdin, stdout and stderr piped); throughput is measured in
// rounds that alternate raw and Kiln, and the median of the per-round ratios is reported, so that
// load from other processes that comes and goes hits both sides alike. A raw spawn in its own
// process group (detached, as Kiln spawns) is measured too, for information only.
// Run: node --import tsx bench/exec-overhead.bench.ts [attempts]
import { spawn } from "node:child_process";
import { defineTaskKind } from "../src/config/define-task-kind.ts";
import { runScript } from "../src/exec/run-script.ts";
import { benchContext, silentHost } from "./script-bench-host.ts";

const N = Number(process.argv[2] ?? 400);
const CONCURRENCY = 8;
const ROUNDS = 5;
const kind = defineTaskKind({ kind: "true", command: "/bin/true", output_format: "exit_code_only" });
const host = silentHost;
const context = benchContext("true");

// The raw spawn gets an environment object made once, as Kiln's comes from a snapshot: without
// one, Node copies process.env on every spawn (about 0.1 ms), which would flatter Kiln.
const rawEnv = { ...process.env };
const raw = () =>
  new Promise<void>((resolve) => {
    spawn("/bin/true", [], { env: rawEnv, stdio: ["ignore", "pipe", "pipe"] }).on("close", () => resolve());
  });
const rawDetached = () =>
  new Promise<void>((resolve) => {
    spawn("/bin/true", [], { env: rawEnv, stdio: ["ignore", "pipe", "pipe"], detached: true }).on("close", () =>
      resolve(),
    );
  });
const kiln = async () => {
  const result = await runScript(kind, { input: null, context, host });
  if (result.verdict !== "success") throw result.error;
};
const time = async (fn: () => Promise<void>) => {
  const start = performance.now();
  await fn();
  return performance.now() - start;
};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] as number;
async function rate(fn: () => Promise<void>, total: number): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < total) await fn();
    }),
  );
  return total / ((performance.now() - start) / 1000);
}

for (let i = 0; i < 30; i++) {
  await raw();
  await kiln();
}
const rawTimes: number[] = [];
const kilnTimes: number[] = [];
const overheads: number[] = [];
for (let i = 0; i < N; i++) {
  const r = await time(raw);
  const k = await time(kiln);
  rawTimes.push(r);
  kilnTimes.push(k);
  overheads.push(k - r);
}
console.log(
  `exec overhead: raw spawn p50 ${median(rawTimes).toFixed(2)} ms, runScript p50 ${median(kilnTimes).toFixed(2)} ms, ` +
    `paired overhead p50 ${median(overheads).toFixed(2)} ms (${N} attempts)`,
);
const ratios: number[] = [];
const rawRates: number[] = [];
const kilnRates: number[] = [];
const detachedRates: number[] = [];
const perRound = N;
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which side goes first, so neither always runs right after the other.
  const [first, second] = round % 2 === 0 ? [raw, kiln] : [kiln, raw];
  const firstRate = await rate(first, perRound);
  const secondRate = await rate(second, perRound);
  const [rawRate, kilnRate] = round % 2 === 0 ? [firstRate, secondRate] : [secondRate, firstRate];
  rawRates.push(rawRate);
  kilnRates.push(kilnRate);
  ratios.push(kilnRate / rawRate);
  detachedRates.push((await rate(rawDetached, perRound)) / rawRate);
}
const percent = (ratio: number) => `${(100 * ratio).toFixed(0)} %`;
console.log(
  `exec throughput at concurrency ${CONCURRENCY}: raw ${median(rawRates).toFixed(0)} spawns/s, runScript ${median(kilnRates).toFixed(0)} attempts/s ` +
    `(${percent(median(ratios))} of raw, median of ${ROUNDS} rounds of ${perRound}: ${ratios.map(percent).join(" ")}); ` +
    `raw detached spawns ${percent(median(detachedRates))} of raw`,
);
