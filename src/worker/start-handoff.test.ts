/**
 * Start+claim fusion: an idle worker of this process is handed runs in the start's transaction
 * (store/local-handoff.ts), on SQLite and PostgreSQL — and its concurrency limit, queue limits,
 * a stopped worker and a remote-style client without handoff all keep working.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Store } from "../store/store.ts";
import { openTestPostgres, openTestSqlite, postgresSkip, type TestStore } from "../../tests/support/test-db.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import { Worker } from "./worker.ts";

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Registers a task kind with no retry policy and no settings. */
function addTask(worker: Worker, kind: string, handler: (input: unknown) => Promise<unknown>): void {
  worker.registry.addTask({ kind, handler, retryPolicy: null, settings: {} });
}

/** A started worker of namespace "ho" with an `echo` task kind and a one-minute poll. */
async function startEchoWorker(store: Store): Promise<Worker> {
  const worker = new Worker({ client: store, namespace: "ho", pollIntervalMs: 60_000 });
  addTask(worker, "echo", async (input) => input);
  await worker.start();
  return worker;
}

/** Resolves once the worker's loop claimed nothing and went idle with its offer out. */
function idle(worker: Worker): Promise<void> {
  return until("the worker idle", () => worker.offering);
}

for (const [dialect, open, skip] of [
  ["SQLite", openTestSqlite, false],
  ["PostgreSQL", openTestPostgres, postgresSkip()],
] as const) {
  describe(`start+claim fusion (${dialect})`, { skip }, () => {
    const opened: TestStore[] = [];
    after(async () => {
      for (const t of opened) await t.close();
    });
    async function openStore(): Promise<Store> {
      const t = await open();
      opened.push(t);
      return t.store;
    }

    it("an idle worker gets a run in the start's own transaction, leased to it", async () => {
      const store = await openStore();
      const worker = new Worker({ client: store, namespace: "ho", pollIntervalMs: 60_000 });
      const seen: unknown[] = [];
      addTask(worker, "echo", async (input) => {
        seen.push(input);
        return input;
      });
      await worker.start();
      try {
        await idle(worker);
        const { run } = await store.startRun({ namespace: "ho", type: "task", name: "echo", input: 7 });
        // The run is already leased to the worker when startRun answers: no claim, no notification.
        assert.equal(run.status, "running");
        assert.equal(run.leaseOwner, worker.name);
        assert.equal(run.leaseToken, 1);
        // The poll interval is a minute: only the handoff can have run it this fast.
        await until(
          "the run completed",
          async () => (await store.getRun({ namespace: "ho", id: run.id }))?.status === "completed",
        );
        assert.deepEqual(seen, [7]);
        assert.equal((await store.getRun({ namespace: "ho", id: run.id }))?.attempt, 1);
      } finally {
        await worker.stop();
      }
    });

    it("hands over no more runs than the worker has free slots; the rest are claimed as usual", async () => {
      const store = await openStore();
      const worker = new Worker({ client: store, namespace: "ho", concurrency: 2, pollIntervalMs: 50 });
      let running = 0;
      let most = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      addTask(worker, "slow", async () => {
        running++;
        most = Math.max(most, running);
        await gate;
        running--;
        return null;
      });
      await worker.start();
      try {
        await idle(worker);
        const started = await store.startRuns({
          runs: Array.from({ length: 5 }, () => ({ namespace: "ho", type: "task" as const, name: "slow" })),
        });
        assert.deepEqual(
          started.map((s) => s.run.status),
          ["running", "running", "queued", "queued", "queued"],
        );
        await until("two running", () => running === 2);
        release();
        await until("all completed", async () => {
          const runs = await Promise.all(started.map((s) => store.getRun({ namespace: "ho", id: s.run.id })));
          return runs.every((r) => r?.status === "completed");
        });
        assert.equal(most, 2, "the concurrency limit held");
      } finally {
        await worker.stop();
      }
    });

    it("does not lease a run of a queue with limits at its start (the claim counts the slots)", async () => {
      const store = await openStore();
      await store.setQueue({ namespace: "ho", name: "limited", concurrencyLimit: 1, keyConcurrencyLimit: null });
      const worker = new Worker({
        client: store,
        namespace: "ho",
        queues: ["limited"],
        pollIntervalMs: 50,
      });
      addTask(worker, "echo", async (input) => input);
      await worker.start();
      try {
        await idle(worker);
        const { run } = await store.startRun({
          namespace: "ho",
          type: "task",
          name: "echo",
          queue: "limited",
          input: 1,
        });
        assert.equal(run.status, "queued");
        await until(
          "the run completed",
          async () => (await store.getRun({ namespace: "ho", id: run.id }))?.status === "completed",
        );
      } finally {
        await worker.stop();
      }
    });

    it("a run of a name the worker does not run, or of another namespace, is not handed over", async () => {
      const store = await openStore();
      const worker = await startEchoWorker(store);
      try {
        await idle(worker);
        const other = await store.startRun({ namespace: "ho", type: "task", name: "unknown-kind" });
        const elsewhere = await store.startRun({ namespace: "other", type: "task", name: "echo" });
        assert.equal(other.run.status, "queued");
        assert.equal(elsewhere.run.status, "queued");
      } finally {
        await worker.stop();
      }
    });

    it("a stopped worker offers nothing: starts stay queued for the next worker", async () => {
      const store = await openStore();
      const worker = await startEchoWorker(store);
      await idle(worker);
      await worker.stop();
      const { run } = await store.startRun({ namespace: "ho", type: "task", name: "echo" });
      assert.equal(run.status, "queued");
      assert.equal(run.leaseOwner, null);
    });

    it("a worker whose client cannot hand over (a remote engine client) claims as before", async () => {
      const store = await openStore();
      // The worker-side verbs only, as HttpEngineClient offers them: no offerHandoff.
      const { offerHandoff: _, ...client } = bind(store);
      const worker = new Worker({ client, namespace: "ho", pollIntervalMs: 50 });
      addTask(worker, "echo", async (input) => input);
      await worker.start();
      try {
        assert.equal(worker.offering, false);
        const { run } = await store.startRun({ namespace: "ho", type: "task", name: "echo", input: 3 });
        assert.equal(run.status, "queued");
        await until(
          "the run completed",
          async () => (await store.getRun({ namespace: "ho", id: run.id }))?.status === "completed",
        );
      } finally {
        await worker.stop();
      }
    });
  });
}

/** The engine-client verbs of a store, bound (a plain object, as a remote client is). */
function bind(store: Store): EngineClient {
  return {
    claimRuns: (p) => store.claimRuns(p),
    extendLeases: (p) => store.extendLeases(p),
    saveSteps: (p) => store.saveSteps(p),
    startChildRun: (p) => store.startChildRun(p),
    awaitEvent: (p) => store.awaitEvent(p),
    finishRuns: (p) => store.finishRuns(p),
    updateRuns: (p) => store.updateRuns(p),
    appendLogs: (p) => store.appendLogs(p),
    subscribe: (l) => store.subscribe(l),
    ...(store.offerHandoff ? { offerHandoff: store.offerHandoff.bind(store) } : {}),
  };
}
