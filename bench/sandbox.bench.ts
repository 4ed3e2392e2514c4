// Added latency of each sandbox profile over `none`, for `/bin/true` as a task kind (docker: one
// container per attempt, through docker or podman): one attempt at a time, the profiles
// interleaved round by round so that load from other processes hits them alike; p50 and p99 per
// profile and their difference to `none`. A profile this machine cannot run is reported as
// skipped with the reason. Prints the load average (`uptime`) beside it.
// Run: node --import tsx bench/sandbox.bench.ts [attempts per profile, default 20]
import { execFileSync } from "node:child_process";
import { defineTaskKind } from "../src/config/define-task-kind.ts";
import { NO_SANDBOX } from "../src/config/resolve-sandbox.ts";
import { runScript } from "../src/exec/run-script.ts";
import { probeContainerEngine, probeIsolation } from "../src/exec/sandbox/isolation-probe.ts";
import { missingIsolation } from "../src/exec/sandbox/sandbox-check.ts";
import type { ScriptHost } from "../src/exec/script-host.ts";

const N = Number(process.argv[2] ?? 20);
const host: ScriptHost = {
  log: () => {},
  progress: () => {},
  setState: async () => {},
  heartbeat: () => {},
  steps: {
    get: () => undefined,
    complete: async () => {},
    sleep: async () => "done",
    waitForEvent: async () => ({ status: "timeout" }),
  },
};
const context = {
  runId: "0190d7a4-3c1e-7b5a-9f00-00000000abcd",
  taskKind: "true",
  attempt: 1,
  maxRetries: 0,
  workflowRunId: null,
  workflowName: null,
  idempotencyKey: "bench",
  traceparent: null,
};

const variants: { name: string; sandbox: Record<string, unknown> | "none" }[] = [
  { name: "none", sandbox: "none" },
  { name: "bubblewrap (network off)", sandbox: { profile: "bubblewrap" } },
  { name: "bubblewrap + memory 256M (cgroup)", sandbox: { profile: "bubblewrap", memory: "256M" } },
  { name: "namespaces (network off)", sandbox: { profile: "namespaces" } },
  { name: "namespaces + memory 256M (cgroup)", sandbox: { profile: "namespaces", memory: "256M" } },
  { name: "docker (network off)", sandbox: { profile: "docker" } },
  { name: "docker + memory 256M", sandbox: { profile: "docker", memory: "256M" } },
];
const features = probeIsolation();
const runnable = variants.flatMap((v) => {
  const kind = defineTaskKind({
    kind: "true",
    command: "/bin/true",
    output_format: "exit_code_only",
    sandbox: v.sandbox,
  });
  const missing = missingIsolation(kind.sandbox ?? NO_SANDBOX, features, probeContainerEngine);
  if (missing.length > 0) {
    console.log(`${v.name}: skipped, ${missing.join("; ")}`);
    return [];
  }
  return [{ ...v, kind, times: [] as number[] }];
});

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

console.log(`load average before: ${execFileSync("uptime", { encoding: "utf8" }).trim()}`);
// One warm-up attempt each: the first one probes the machine and opens the attempt space.
for (const v of runnable) await runScript(v.kind, { input: {}, context, host });
for (let round = 0; round < N; round++) {
  for (const v of runnable) {
    const started = performance.now();
    const result = await runScript(v.kind, { input: {}, context, host });
    if (result.verdict !== "success") throw new Error(`${v.name}: ${result.error?.message}`);
    v.times.push(performance.now() - started);
  }
}
const none = runnable.find((v) => v.name === "none");
const base = none ? [...none.times].sort((a, b) => a - b) : [];
for (const v of runnable) {
  const sorted = [...v.times].sort((a, b) => a - b);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  const added =
    v === none
      ? ""
      : `, added over none: p50 +${(p50 - percentile(base, 50)).toFixed(1)} ms, p99 +${(p99 - percentile(base, 99)).toFixed(1)} ms`;
  console.log(`${v.name}: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (${sorted.length} attempts)${added}`);
}
console.log(`load average after: ${execFileSync("uptime", { encoding: "utf8" }).trim()}`);
