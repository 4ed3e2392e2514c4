// Shared by the host tests: a worker on a real store and a manual clock, running deployed code
// from an in-memory deployment source in real host processes.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestStore } from "./test-db.ts";
import { resolveRetryPolicy } from "../../src/engine/retry-policy.ts";
import type { Run } from "../../src/engine/run.ts";
import type { Step } from "../../src/engine/step.ts";
import { Worker } from "../../src/worker/worker.ts";
import {
  type DeployedWorkflow,
  DeployedWorkflowResolver,
  InMemoryWorkflowSource,
} from "../../src/runtimes/deployed-workflows.ts";
import type { HostPool } from "../../src/runtimes/host-pool.ts";
import { HostRunner } from "../../src/runtimes/host-runner.ts";

/** A worker executing deployed code in one namespace. */
export interface HostHarness {
  readonly worker: Worker;
  readonly source: InMemoryWorkflowSource;
  readonly resolver: DeployedWorkflowResolver;
  deploy(name: string, source: string, runtime?: "node" | "python"): Promise<DeployedWorkflow>;
  /** Registers an in-process JS task kind. */
  task(kind: string, handler: (input: never) => unknown): void;
  start(name: string, input?: unknown, extra?: Record<string, unknown>): Promise<string>;
  run(id: string): Promise<Run>;
  steps(id: string): Promise<Step[]>;
  /** Sweeps (wake-ups) and drains the worker. */
  drain(): Promise<number>;
}

/** Builds a harness on `store` for namespace `ns`, running deployed code in `pool`. */
export function hostHarness(
  db: TestStore,
  clock: { now: number },
  ns: string,
  pool: HostPool,
  options: { maxCrashes?: number } = {},
): HostHarness {
  const source = new InMemoryWorkflowSource();
  const runner = new HostRunner(pool, { manualClock: true, ...options });
  const resolver = new DeployedWorkflowResolver({ source, runner, cacheMs: 0 });
  const worker = new Worker({
    client: db.store,
    namespace: ns,
    clock: () => clock.now,
    leaseMs: 60_000,
    logger: { info: () => {}, warn: () => {}, error: () => {} },
  });
  worker.registry.addResolver(resolver);
  return {
    worker,
    source,
    resolver,
    deploy: async (name, text, runtime = "node") => {
      const { workflow } = await source.deploy({ namespace: ns, name, source: text, runtime });
      resolver.invalidate();
      return workflow;
    },
    task: (kind, handler) =>
      worker.registry.addTask({
        kind,
        handler: async (input) => handler(input as never),
        retryPolicy: resolveRetryPolicy({ maxAttempts: 1 }),
        settings: {},
      }),
    start: async (name, input, extra = {}) =>
      (await db.store.startRun({ namespace: ns, type: "workflow", name, input: input ?? null, ...extra })).run.id,
    run: async (id) => {
      const run = await db.store.getRun({ namespace: ns, id });
      if (!run) throw new Error(`no run ${id}`);
      return run;
    },
    steps: (id) => db.store.listSteps({ runId: id }),
    drain: async () => {
      let total = 0;
      for (;;) {
        await db.store.sweep({});
        const n = await worker.drain();
        total += n;
        if (n === 0) return total;
      }
    },
  };
}

/**
 * A directory deployed code resolves from: a package in node_modules, a relative JS module and a
 * Python module, to check imports from the workflow's directory.
 */
export function makeWorkflowDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-wf-"));
  // Removed when the test process exits, so test files need no teardown of their own.
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const pkg = join(dir, "node_modules", "kiln-fixture-pkg");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({ name: "kiln-fixture-pkg", version: "1.0.0", main: "index.js" }),
  );
  writeFileSync(join(pkg, "index.js"), "exports.shout = (s) => String(s).toUpperCase() + '!';\n");
  writeFileSync(join(dir, "lib.mjs"), "export const twice = (n) => n * 2;\n");
  writeFileSync(join(dir, "helper_mod.py"), "def triple(n):\n    return n * 3\n");
  return dir;
}

/** Lines appended to a counter file by workflow code (side effects outside the store). */
export function counted(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** Polls until `check` holds (real time). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
