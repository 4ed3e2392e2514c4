/**
 * Resource exhaustion: a script writing a flood to stdout (capped, the worker's heap and RSS
 * bounded), a fork-bomb-ish script whose children ignore SIGTERM (all gone after the grace
 * period), parked workflows across a store restart, one workflow with very many steps, and
 * buffered events with no waiter (memory bounded, retention deletes them). Bounded sizes here;
 * `KILN_RELIABILITY_FULL=1` runs 1 GB of stdout and 10,000 of everything else. Prints its figures.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { isTerminal } from "../../src/engine/status.ts";
import { executeScriptTask } from "../../src/exec/script-task.ts";
import { fixture, kind, memoryTaskContext } from "../support/exec-helpers.ts";
import { openStore } from "../../src/store/open-store.ts";
import type { Store } from "../../src/store/store.ts";
import { Worker } from "../../src/worker/worker.ts";
import type { WorkflowContext } from "../../src/workflow/workflow-context.ts";
import { FULL } from "./hostile-input.ts";

const STDOUT_MB = FULL ? 1024 : 100;
const MANY = FULL ? 10_000 : 500;
const STEPS = FULL ? 10_000 : 1_000;
const load = () => `load=${(loadavg()[0] ?? 0).toFixed(1)}`;
const mb = (bytes: number) => Math.round(bytes / 1048576);

/** This process's environment without the test runner's NODE_TEST_CONTEXT. */
function childEnv(): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _context, ...env } = process.env;
  return env;
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-exhaust-"));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts a worker on `store` with one workflow; returns it started. */
async function startWorker(
  store: Store,
  name: string,
  fn: (input: unknown, ctx: WorkflowContext) => Promise<unknown>,
  clock: () => number = Date.now,
) {
  const worker = new Worker({
    client: store,
    housekeeper: store,
    namespace: "exhaust",
    pollIntervalMs: 20,
    sweepIntervalMs: 100,
    clock,
  });
  worker.registry.addWorkflow({ name, version: null, fn });
  await worker.start();
  return worker;
}

async function waitAll(store: Store, ids: readonly string[], done: (status: string) => boolean, ms = 900_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    let open = 0;
    for (const id of ids) {
      const run = await store.getRun({ namespace: "exhaust", id });
      if (!run || !done(run.status)) open++;
    }
    if (open === 0) return;
    assert.ok(Date.now() < deadline, `${open} runs still not there`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("resource exhaustion", { timeout: 1_800_000 }, () => {
  it(`a script writing ${STDOUT_MB} MB to stdout is capped; the worker's memory stays bounded`, () => {
    // A child process with a 48 MB heap runs the task (tests/fixtures/bounded-run.ts): buffering the
    // output whole would crash it. The tsx loader alone keeps ~18 MB live; 24 MB left too little
    // room for garbage on a fast machine. Its peak RSS (ru_maxrss) is printed when it exits.
    const peak = join(tempDir(), "peak-rss.cjs");
    writeFileSync(
      peak,
      "process.on('exit', () => console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS })));\n",
    );
    const out = execFileSync(
      process.execPath,
      [
        ...["--max-old-space-size=48", "--expose-gc", "--import", "tsx"],
        ...["--require", peak],
        fixture("bounded-run.ts"),
        ...[fixture("big-stdout.py"), String(STDOUT_MB)],
      ],
      // Without the test runner's context variable, which would make the child report to it instead of stdout.
      { encoding: "utf8", maxBuffer: 1024 * 1024, env: childEnv() },
    );
    const lines = out
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("{"));
    const summary = JSON.parse(lines.at(-2) as string) as Record<string, number | string | boolean>;
    const { maxRssKb } = JSON.parse(lines.at(-1) as string) as { maxRssKb: number };
    console.log(
      `exhaustion stdout: mb=${STDOUT_MB} seen=${mb(summary.logsSeen as number)}MB output_bytes=${summary.outputSize} logs_kept_kb=${Math.round((summary.logsKept as number) / 1024)} heap_mb=${summary.heapUsedMb} peak_rss_mb=${Math.round(maxRssKb / 1024)} ${load()}`,
    );
    assert.equal(summary.verdict, "success", String(summary.error));
    assert.equal(summary.truncated, true);
    assert.ok((summary.logsSeen as number) >= STDOUT_MB * 1_000_000);
    assert.ok((summary.heapUsedMb as number) < 32, `heap ${summary.heapUsedMb} MB`);
    assert.ok(maxRssKb < 400 * 1024, `peak RSS ${Math.round(maxRssKb / 1024)} MB`);
  });

  it("a fork-bomb-ish script whose children ignore SIGTERM leaves nothing behind after the grace period", async () => {
    const dir = tempDir();
    const marker = `kiln-bomb-${randomUUID()}`;
    const width = FULL ? 100 : 20;
    writeFileSync(
      join(dir, "bomb.sh"),
      `#!/usr/bin/env bash
for i in $(seq ${width}); do
  bash -c 'trap "" TERM; (trap "" TERM; while :; do sleep 1; done) & while :; do sleep 1; done' ${marker} &
done
trap "" TERM
while :; do sleep 1; done
`,
      { mode: 0o755 },
    );
    const alive = () =>
      readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(marker);
          } catch {
            return false;
          }
        }).length;
    const ctx = memoryTaskContext();
    const task = kind(
      { command: join(dir, "bomb.sh"), timeout_seconds: 2, grace_period_seconds: 0.5, timeout_action: "signal" },
      dir,
    );
    setTimeout(() => console.log(`exhaustion fork: processes with the marker while running=${alive()}`), 1500);
    await assert.rejects(
      executeScriptTask(task, ctx),
      (error: unknown) => (error as { code?: string }).code !== undefined,
    );
    const left = alive();
    console.log(`exhaustion fork: children=${width * 2} left_after_grace=${left} ${load()}`);
    assert.equal(left, 0);
  });

  it(`${MANY} parked workflows survive a restart of the store and worker, then all complete`, async () => {
    const dir = tempDir();
    const path = join(dir, "kiln.db");
    // A clock of our own: the sleep outlasts the restart however slow the machine, then time jumps.
    let now = Date.now();
    const clock = () => now;
    const napping = async (_input: unknown, { sleep, step }: WorkflowContext) => {
      await step("before", () => 1);
      await sleep("nap", 60_000);
      return await step("after", () => 2);
    };
    let store = await openStore(path, { clock });
    const ids: string[] = [];
    for (let i = 0; i < MANY; i++) {
      ids.push((await store.startRun({ namespace: "exhaust", type: "workflow", name: "nap" })).run.id);
    }
    let worker = await startWorker(store, "nap", napping, clock);
    await waitAll(store, ids, (s) => s === "sleeping" || isTerminal(s as never));
    await worker.stop();
    await store.close();
    store = await openStore(path, { clock });
    const parked = (await Promise.all(ids.map((id) => store.getRun({ namespace: "exhaust", id })))).filter(
      (r) => r?.status === "sleeping",
    ).length;
    now += 61_000;
    const t0 = Date.now();
    worker = await startWorker(store, "nap", napping, clock);
    try {
      await waitAll(store, ids, (s) => isTerminal(s as never));
      const runs = await Promise.all(ids.map((id) => store.getRun({ namespace: "exhaust", id })));
      const completed = runs.filter((r) => r?.status === "completed" && r.output === 2).length;
      console.log(
        `exhaustion parked: runs=${MANY} parked_across_restart=${parked} completed=${completed} after_restart_ms=${Date.now() - t0} ${load()}`,
      );
      assert.equal(parked, MANY);
      assert.equal(completed, MANY);
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it(`a workflow of ${STEPS} steps completes with every step recorded once`, async () => {
    const dir = tempDir();
    const store = await openStore(join(dir, "kiln.db"));
    const executed = new Map<string, number>();
    const worker = await startWorker(store, "long", async (_input, { step }) => {
      let n = 0;
      for (let i = 0; i < STEPS; i++) {
        n = await step(`s${i}`, () => {
          executed.set(`s${i}`, (executed.get(`s${i}`) ?? 0) + 1);
          return n + 1;
        });
      }
      return n;
    });
    try {
      const heap0 = process.memoryUsage().heapUsed;
      const t0 = Date.now();
      const { run } = await store.startRun({ namespace: "exhaust", type: "workflow", name: "long" });
      await waitAll(store, [run.id], (s) => isTerminal(s as never));
      const done = await store.getRun({ namespace: "exhaust", id: run.id });
      const steps = await store.listSteps({ runId: run.id });
      const twice = [...executed.values()].filter((c) => c > 1).length;
      console.log(
        `exhaustion steps: steps=${STEPS} recorded=${steps.length} executed_twice=${twice} ms=${Date.now() - t0} heap_delta_mb=${mb(process.memoryUsage().heapUsed - heap0)} ${load()}`,
      );
      assert.equal(done?.status, "completed", JSON.stringify(done?.error));
      assert.equal(done?.output, STEPS);
      assert.equal(steps.length, STEPS);
      assert.equal(twice, 0);
    } finally {
      await worker.stop();
      await store.close();
    }
  });

  it(`${MANY} buffered events with no waiter: memory bounded, retention deletes them`, async () => {
    const dir = tempDir();
    let now = Date.now();
    const store = await openStore(join(dir, "kiln.db"), { clock: () => now });
    try {
      (globalThis as { gc?: () => void }).gc?.();
      const heap0 = process.memoryUsage().heapUsed;
      for (let i = 0; i < MANY; i++) {
        const sent = await store.sendEvent({
          namespace: "exhaust",
          name: "nobody.listens",
          key: `k${i}`,
          payload: { i, pad: "x".repeat(200) },
          retentionMs: 60_000,
        });
        assert.equal(sent.deliveredTo, null);
      }
      (globalThis as { gc?: () => void }).gc?.();
      const heapDelta = process.memoryUsage().heapUsed - heap0;
      const count = () => {
        const db = new Database(join(dir, "kiln.db"), { readonly: true });
        try {
          return (db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number }).n;
        } finally {
          db.close();
        }
      };
      const buffered = count();
      now += 61_000;
      let deleted = 0;
      for (;;) {
        const swept = await store.sweep({ limit: 1000 });
        deleted += swept.eventsDeleted;
        if (swept.eventsDeleted === 0) break;
      }
      const left = count();
      console.log(
        `exhaustion events: sent=${MANY} buffered=${buffered} heap_delta_mb=${mb(heapDelta)} deleted_by_retention=${deleted} left=${left} ${load()}`,
      );
      assert.equal(buffered, MANY);
      assert.equal(left, 0);
      // The events live in the database, not in the process: far less than their payloads' size in memory.
      assert.ok(heapDelta < 64 * 1048576, `heap grew ${mb(heapDelta)} MB`);
    } finally {
      await store.close();
    }
  });
});
