import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openTestPostgres, openTestSqlite, postgresSkip } from "../../tests/support/test-db.ts";
import { KilnError } from "../errors.ts";
import { resolveRetryPolicy } from "../engine/retry-policy.ts";
import { silentLogger } from "../server/logger.ts";
import { type KilnServer, startServer } from "../server/start-server.ts";
import type { Store } from "../store/store.ts";
import { HttpEngineClient } from "./http-engine-client.ts";
import { Worker } from "../worker/worker.ts";
import type { WorkflowContext } from "../workflow/workflow-context.ts";

/**
 * The worker suite's key scenarios through HttpEngineClient against a real listening server (same
 * contract as in-process), plus what only the remote protocol has: long polls, retries through a
 * server restart, namespace isolation.
 */

type Db = { store: Store; close(): Promise<void> };
const factories: [string, (clock: () => number) => Promise<Db>, string | false][] = [
  ["sqlite", (clock) => openTestSqlite({ clock }), false],
  ["postgres", (clock) => openTestPostgres({ clock }), postgresSkip()],
];

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await delay(10);
  }
}

for (const [dialect, open, skip] of factories) {
  describe(`HttpEngineClient against a live server on ${dialect}`, { skip }, () => {
    const clock = { now: 1_000_000 };
    let db: Db;
    let server: KilnServer;
    let dataDir: string;
    let workerToken: string;
    const clients: HttpEngineClient[] = [];

    before(async () => {
      db = await open(() => clock.now);
      dataDir = mkdtempSync(join(tmpdir(), "kiln-http-worker-"));
      server = await startServer({
        store: db.store,
        dataDir,
        port: 0,
        logger: silentLogger(),
        housekeeping: false,
        rateLimit: false,
        clock: () => clock.now,
      });
      for (const ns of [
        "readme",
        "events",
        "fanout",
        "saga",
        "cancel",
        "fence",
        "taskretry",
        "proto",
        "restart",
        "poll",
      ]) {
        await db.store.createNamespace({ name: ns });
      }
      workerToken = (await db.store.createToken({ name: "workers", namespace: "*", role: "worker" })).plaintext;
    });
    after(async () => {
      for (const c of clients) c.close();
      await server?.close();
      await db?.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    function client(namespace: string, token = workerToken): HttpEngineClient {
      const c = new HttpEngineClient({ url: server.url, token, namespace, initialDelayMs: 20, maxDelayMs: 200 });
      clients.push(c);
      return c;
    }

    function harness(ns: string, configure: (w: Worker) => void) {
      const worker = new Worker({
        client: client(ns),
        namespace: ns,
        clock: () => clock.now,
        leaseMs: 10_000,
        concurrency: 16,
      });
      configure(worker);
      return {
        worker,
        start: async (name: string, input?: unknown, extra: Record<string, unknown> = {}) =>
          (await db.store.startRun({ namespace: ns, type: "workflow", name, input, ...extra })).run.id,
        run: (id: string) => db.store.getRun({ namespace: ns, id }),
        status: async (id: string) => (await db.store.getRun({ namespace: ns, id }))?.status ?? "missing",
      };
    }

    const wf = (w: Worker, name: string, fn: (input: never, ctx: WorkflowContext) => unknown) =>
      w.registry.addWorkflow({ name, version: null, fn });
    const task = (w: Worker, kind: string, handler: (input: never) => unknown, retry?: number) =>
      w.registry.addTask({
        kind,
        handler: async (input) => handler(input as never),
        retryPolicy: retry ? resolveRetryPolicy({ maxAttempts: retry, initialIntervalMs: 0 }) : null,
        settings: {},
      });

    it("runs the README workflow: step, durable sleep, step", async () => {
      let greets = 0;
      const h = harness("readme", (w) =>
        wf(w, "hello", async (input: { name: string }, { step, sleep }) => {
          const greeting = await step("greet", () => {
            greets++;
            return `Hello, ${input.name}!`;
          });
          await sleep("wait", 5000);
          return await step("complete", () => ({ message: greeting }));
        }),
      );
      const id = await h.start("hello", { name: "Ada" });
      assert.equal(await h.worker.drain(), 1);
      assert.equal(await h.status(id), "sleeping");
      clock.now += 5000;
      await db.store.sweep({});
      assert.equal(await h.worker.drain(), 1);
      const run = await h.run(id);
      assert.equal(run?.status, "completed");
      assert.deepEqual(run?.output, { message: "Hello, Ada!" });
      assert.equal(greets, 1);
      assert.deepEqual(
        (await db.store.listSteps({ runId: id })).map((s) => [s.name, s.status]),
        [
          ["greet", "completed"],
          ["wait", "completed"],
          ["complete", "completed"],
        ],
      );
    });

    it("delivers events sent before and after the wait", async () => {
      const h = harness("events", (w) =>
        wf(w, "approval", async (input: { order: string }, { waitForEvent }) =>
          waitForEvent("approved", { event: "order.approved", key: input.order }),
        ),
      );
      await db.store.sendEvent({ namespace: "events", name: "order.approved", key: "o-1", payload: { ok: true } });
      const early = await h.start("approval", { order: "o-1" });
      const late = await h.start("approval", { order: "o-2" });
      await h.worker.drain();
      assert.deepEqual((await h.run(early))?.output, { ok: true });
      assert.equal(await h.status(late), "waiting");
      await db.store.sendEvent({ namespace: "events", name: "order.approved", key: "o-2", payload: { ok: false } });
      await h.worker.drain();
      assert.deepEqual((await h.run(late))?.output, { ok: false });
    });

    it("fans out child tasks and a child workflow", async () => {
      const h = harness("fanout", (w) => {
        task(w, "double", (input: { n: number }) => ({ n: input.n * 2 }));
        wf(w, "parent", async (_: unknown, ctx) =>
          Promise.all([
            ctx.task<{ n: number }>("double", { n: 1 }, { name: "d1" }),
            ctx.task<{ n: number }>("double", { n: 2 }, { name: "d2" }),
            ctx.workflow<number>("child-wf", { x: 5 }),
          ]),
        );
        wf(w, "child-wf", async (input: { x: number }, { step }) => step("sq", () => input.x * input.x));
      });
      const id = await h.start("parent");
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run?.status, "completed");
      assert.deepEqual(run?.output, [{ n: 2 }, { n: 4 }, 25]);
    });

    it("compensates completed steps in reverse order", async () => {
      const undone: string[] = [];
      const h = harness("saga", (w) =>
        wf(w, "trip", async (_: unknown, { step }) => {
          await step("flight", () => "F1", { compensate: (id) => void undone.push(`cancel ${id}`) });
          await step("hotel", () => "H1", { compensate: (id) => void undone.push(`cancel ${id}`) });
          await step("car", () => {
            throw new KilnError("INVALID_INPUT", "no cars");
          });
        }),
      );
      const id = await h.start("trip");
      await h.worker.drain();
      assert.equal(await h.status(id), "compensated");
      assert.deepEqual(undone, ["cancel H1", "cancel F1"]);
    });

    it("cancels a sleeping run with compensations", async () => {
      const undone: string[] = [];
      const h = harness("cancel", (w) =>
        wf(w, "booker", async (_: unknown, { step, sleep }) => {
          await step("reserve", () => "R", { compensate: () => void undone.push("release R") });
          await sleep("hold", "1h");
        }),
      );
      const id = await h.start("booker");
      await h.worker.drain();
      await db.store.cancelRun({ namespace: "cancel", id });
      await h.worker.drain();
      assert.equal(await h.status(id), "compensated");
      assert.deepEqual(undone, ["release R"]);
      // The compensation's `compensates` crosses the worker protocol: the step is marked.
      assert.deepEqual(
        (await db.store.listSteps({ runId: id })).map((s) => [s.name, s.status]),
        [
          ["reserve", "compensated"],
          ["hold", "cancelled"],
          ["compensate:reserve", "completed"],
        ],
      );
    });

    it("rejects a stale worker's writes (fencing) over HTTP", async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let executions = 0;
      const configure = (w: Worker) =>
        wf(w, "slow", async (_: unknown, { step }) =>
          step("work", async () => {
            executions++;
            if (executions === 1) await gate;
            return executions;
          }),
        );
      const h1 = harness("fence", configure);
      const h2 = harness("fence", configure);
      const id = await h1.start("slow");
      const first = h1.worker.tick();
      await until("the first worker runs the step", async () => executions === 1);
      clock.now += 11_000;
      await h2.worker.drain();
      assert.equal((await h2.run(id))?.output, 2);
      release();
      await first;
      assert.equal((await h1.run(id))?.output, 2, "the stale result was rejected");
      assert.equal((await db.store.listSteps({ runId: id })).length, 1);
    });

    it("retries a task run per its kind's policy", async () => {
      let calls = 0;
      const h = harness("taskretry", (w) =>
        task(
          w,
          "flaky",
          () => {
            if (++calls < 3) throw new Error("try again");
            return { calls };
          },
          3,
        ),
      );
      const { run } = await db.store.startRun({ namespace: "taskretry", type: "task", name: "flaky" });
      await h.worker.drain();
      const done = await h.run(run.id);
      assert.equal(done?.status, "completed");
      assert.equal(done?.attempt, 3);
    });

    it("treats a retried write whose first try was committed as delivered", async () => {
      const c = client("proto");
      const { run } = await db.store.startRun({ namespace: "proto", type: "workflow", name: "p" });
      const [claimed] = (
        await c.claimRuns({ namespace: "proto", queues: ["default"], owner: "o", limit: 1, leaseMs: 60_000 })
      ).runs;
      assert.ok(claimed);
      const lease = { runId: run.id, leaseToken: claimed.run.leaseToken };
      const step = {
        ...lease,
        name: "s",
        seq: 0,
        type: "step" as const,
        status: "completed" as const,
        output: { v: 1 },
      };
      assert.deepEqual(await c.saveSteps({ steps: [step] }), [{ ok: true, cancelRequested: false }]);
      const post = (path: string, body: unknown, attempt: number) =>
        fetch(`${server.url}${path}`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${workerToken}`,
            "kiln-namespace": "proto",
            "content-type": "application/json",
            "kiln-attempt": String(attempt),
          },
          body: JSON.stringify(body),
        }).then((r) => r.json() as Promise<{ results: { ok: boolean; error?: { code: string } }[] }>);
      assert.equal(
        (await post("/v1/worker/steps", { steps: [step] }, 1)).results[0]?.error?.code,
        "STEP_ALREADY_RECORDED",
      );
      assert.equal((await post("/v1/worker/steps", { steps: [step] }, 2)).results[0]?.ok, true, "same value, retried");
      const other = { ...step, output: { v: 2 } };
      assert.equal(
        (await post("/v1/worker/steps", { steps: [other] }, 2)).results[0]?.error?.code,
        "STEP_ALREADY_RECORDED",
      );
      const finish = { items: [{ ...lease, outcome: "complete", output: "done" }] };
      assert.equal((await post("/v1/worker/finish", finish, 1)).results[0]?.ok, true);
      assert.equal((await post("/v1/worker/finish", finish, 1)).results[0]?.error?.code, "LEASE_LOST");
      assert.equal((await post("/v1/worker/finish", finish, 2)).results[0]?.ok, true, "committed before: delivered");
    });

    it("keeps other namespaces out of reach of a namespace's worker token", async () => {
      const scoped = (await db.store.createToken({ name: "w", namespace: "proto", role: "worker" })).plaintext;
      const c = client("restart", scoped);
      await assert.rejects(
        c.claimRuns({ namespace: "restart", queues: ["default"], owner: "o", limit: 1, leaseMs: 1000 }),
        (e) => e instanceof KilnError && e.code === "FORBIDDEN",
      );
    });

    it("long-polls a claim until a run arrives, and the subscription wakes an idle worker", async () => {
      const c = new HttpEngineClient({ url: server.url, token: workerToken, namespace: "poll", claimWaitMs: 5000 });
      clients.push(c);
      const started = Date.now();
      const pending = c.claimRuns({ namespace: "poll", queues: ["q"], owner: "o", limit: 5, leaseMs: 60_000 });
      await delay(150);
      const { run } = await db.store.startRun({ namespace: "poll", type: "task", name: "t", queue: "q" });
      const result = await pending;
      assert.deepEqual(
        result.runs.map((r) => r.run.id),
        [run.id],
      );
      assert.ok(Date.now() - started < 3000, "answered when the run arrived, not at the end of the wait");

      const notes: string[] = [];
      const unsubscribe = await client("poll").subscribe((n) => notes.push(`${n.namespace}/${n.queue}`));
      await delay(150);
      await db.store.startRun({ namespace: "poll", type: "task", name: "t", queue: "q2" });
      await until("a notification arrives", async () => notes.includes("poll/q2"));
      await unsubscribe();
    });

    // Regression: a retry's backoff (or a sleep, or a delayed start) made while a claim was
    // long-polling did not shorten its wait, so a remote worker took it up to 30 s late.
    it("a long-polling claim wakes when a delayed run or a retry made meanwhile becomes due", async () => {
      const waiting = new HttpEngineClient({
        url: server.url,
        token: workerToken,
        namespace: "poll",
        claimWaitMs: 60_000,
      });
      clients.push(waiting);
      const claim = { namespace: "poll", queues: ["timer-q"], owner: "waiting", limit: 5, leaseMs: 60_000 };
      const answeredWithin = async <T>(pending: Promise<T>, ms: number): Promise<T | "still waiting"> =>
        Promise.race([pending, delay(ms).then(() => "still waiting" as const)]);

      let pending = waiting.claimRuns(claim);
      await delay(150);
      const { run: delayed } = await db.store.startRun({
        namespace: "poll",
        type: "task",
        name: "t",
        queue: "timer-q",
        availableAt: clock.now + 200,
      });
      clock.now += 200; // due once the server's timer (200 ms) fires
      const first = await answeredWithin(pending, 10_000);
      assert.notEqual(first, "still waiting", "the claim slept past the delayed run");
      assert.deepEqual(first !== "still waiting" && first.runs.map((r) => r.run.id), [delayed.id]);

      // A retry: another worker fails the run with a backoff while this claim waits.
      pending = waiting.claimRuns(claim);
      await delay(150);
      const other = client("poll");
      const [lease] = first !== "still waiting" ? first.runs : [];
      assert.ok(lease);
      const failed = await other.finishRuns({
        items: [
          {
            runId: lease.run.id,
            leaseToken: lease.run.leaseToken,
            outcome: "fail",
            error: { code: "STEP_FAILED", message: "try again" },
            retryAt: clock.now + 200,
          },
        ],
      });
      assert.equal(failed[0]?.ok, true);
      clock.now += 200;
      const second = await answeredWithin(pending, 10_000);
      assert.notEqual(second, "still waiting", "the claim slept past the retry");
      assert.deepEqual(second !== "still waiting" && second.runs.map((r) => [r.run.id, r.run.attempt]), [
        [delayed.id, 2],
      ]);
    });

    // Regression: a SIGTERMed worker waited for its long-poll claim (25 s) before it could stop.
    it("stopClaiming aborts the long-poll claim in flight and answers no runs from then on", async () => {
      const c = new HttpEngineClient({ url: server.url, token: workerToken, namespace: "poll", claimWaitMs: 60_000 });
      clients.push(c);
      const claim = { namespace: "poll", queues: ["stop-q"], owner: "o", limit: 5, leaseMs: 60_000 };
      const pending = c.claimRuns(claim);
      await delay(150);
      c.stopClaiming();
      assert.deepEqual(await pending, { runs: [], nextWakeAt: null });
      // Without the abort, the pending long poll would take this run. (The server needs a moment
      // to see the hang-up: a run started in that instant stays leased until its lease expires.)
      await delay(300);
      const { run } = await db.store.startRun({ namespace: "poll", type: "task", name: "t", queue: "stop-q" });
      assert.deepEqual((await c.claimRuns(claim)).runs, []);
      await until("the run is queued", async () => {
        const now = await db.store.getRun({ namespace: "poll", id: run.id });
        return now?.status === "queued" && now.leaseOwner === null;
      });
    });

    it("registers, heartbeats, and fetches vault secrets for a run", async () => {
      const c = client("proto");
      const reg = await c.register({
        name: "remote-1",
        version: "0.1.0",
        queues: ["default"],
        kinds: [{ kind: "backup", settings: { command: "backup.sh" } }],
      });
      assert.equal(reg.namespace, "proto");
      const [listed] = await db.store.listWorkers({ namespace: "proto" });
      assert.equal(listed?.name, "remote-1");
      await server.app.deps.vault.set({ namespace: "proto", name: "DB_PASS", value: "pw" });
      assert.deepEqual(await c.getSecrets(["DB_PASS", "MISSING"]), { DB_PASS: "pw" });
      await c.unregister();
      assert.deepEqual(await db.store.listWorkers({ namespace: "proto" }), []);
    });
  });
}

describe("a remote worker through a server restart (real time)", () => {
  it("keeps executing while the server is down and delivers the result when it is back", async () => {
    const db = await openTestSqlite();
    const dataDir = mkdtempSync(join(tmpdir(), "kiln-restart-"));
    const options = {
      store: db.store,
      dataDir,
      logger: silentLogger(),
      rateLimit: false as const,
      sweepIntervalMs: 50,
    };
    let server = await startServer({ ...options, port: 0 });
    const port = server.port;
    const token = (await db.store.createToken({ name: "w", namespace: "default", role: "worker" })).plaintext;
    const client = new HttpEngineClient({ url: server.url, token, initialDelayMs: 20, maxDelayMs: 100 });
    const worker = new Worker({ client, pollIntervalMs: 50, leaseMs: 30_000 });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let runs = 0;
    worker.registry.addTask({
      kind: "long-script",
      handler: async () => {
        runs++;
        await gate;
        return { done: true };
      },
      retryPolicy: null,
      settings: {},
    });
    try {
      await worker.start();
      const { run } = await db.store.startRun({ namespace: "default", type: "task", name: "long-script" });
      await until("the worker runs the script", async () => runs === 1);
      await server.close();
      release(); // The script finishes while no server is listening.
      await delay(300);
      assert.equal((await db.store.getRun({ namespace: "default", id: run.id }))?.status, "running");
      server = await startServer({ ...options, port });
      await until(
        "the result is delivered",
        async () => (await db.store.getRun({ namespace: "default", id: run.id }))?.status === "completed",
      );
      const done = await db.store.getRun({ namespace: "default", id: run.id });
      assert.deepEqual(done?.output, { done: true });
      assert.equal(runs, 1, "executed once");
      // And the worker goes on claiming new work from the restarted server.
      const next = await db.store.startRun({ namespace: "default", type: "task", name: "long-script" });
      await until(
        "the next run completes",
        async () => (await db.store.getRun({ namespace: "default", id: next.run.id }))?.status === "completed",
      );
    } finally {
      await worker.stop();
      client.close();
      await server.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("a remote worker loop (real time)", () => {
  for (const prefetchOnFinish of [false, true]) {
    it(`drains many runs exactly once, claiming ahead${prefetchOnFinish ? " and along with each finish" : ""}, and gives back what it prefetched on stop`, async () => {
      const db = await openTestSqlite();
      const dataDir = mkdtempSync(join(tmpdir(), "kiln-loop-"));
      const server = await startServer({ store: db.store, dataDir, port: 0, logger: silentLogger(), rateLimit: false });
      const token = (await db.store.createToken({ name: "w", namespace: "default", role: "worker" })).plaintext;
      const client = new HttpEngineClient({ url: server.url, token, prefetchOnFinish });
      const worker = new Worker({ client, concurrency: 20, batchSize: 20, pollIntervalMs: 5000 });
      const seen = new Map<string, number>();
      worker.registry.addTask({
        kind: "count",
        handler: async (_input, ctx) => {
          seen.set(ctx.run.id, (seen.get(ctx.run.id) ?? 0) + 1);
          return null;
        },
        retryPolicy: null,
        settings: {},
      });
      try {
        await db.store.startRuns({
          runs: Array.from({ length: 500 }, () => ({ namespace: "default", type: "task" as const, name: "count" })),
        });
        await worker.start();
        const started = Date.now();
        await until("every run completes", async () => worker.processed >= 500, 30_000);
        // With a 5 s poll interval, only prompt wake-ups (notifications, prefetch) finish this quickly.
        assert.ok(Date.now() - started < 15_000);
        assert.equal(seen.size, 500);
        assert.ok(
          [...seen.values()].every((n) => n === 1),
          "each run executed once",
        );
        // More runs than the worker will take before it stops: whatever it prefetched goes back.
        await db.store.startRuns({
          runs: Array.from({ length: 100 }, () => ({ namespace: "default", type: "task" as const, name: "count" })),
        });
        await worker.stop();
        const leased = await db.store.listRuns({ namespace: "default", status: "running", limit: 1000 });
        assert.equal(leased.runs.length, 0, "no run stays leased to the stopped worker");
        const done = await db.store.listRuns({ namespace: "default", status: "completed", limit: 1000 });
        const queued = await db.store.listRuns({ namespace: "default", status: "queued", limit: 1000 });
        assert.equal(done.runs.length + queued.runs.length, 600);
      } finally {
        client.close();
        await server.close();
        await db.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }

  it("records more outcomes at once than one request may carry, in order, in several requests", async () => {
    const db = await openTestSqlite();
    const dataDir = mkdtempSync(join(tmpdir(), "kiln-chunks-"));
    const server = await startServer({ store: db.store, dataDir, port: 0, logger: silentLogger(), rateLimit: false });
    const token = (await db.store.createToken({ name: "w", namespace: "default", role: "worker" })).plaintext;
    const client = new HttpEngineClient({ url: server.url, token });
    try {
      const total = 10_050;
      for (let i = 0; i < total; i += 1000) {
        await db.store.startRuns({
          runs: Array.from({ length: Math.min(1000, total - i) }, () => ({
            namespace: "default",
            type: "task" as const,
            name: "t",
          })),
        });
      }
      const claimed = [];
      while (claimed.length < total) {
        const params = { namespace: "default", queues: ["default"], owner: "w1", limit: 1000, leaseMs: 60_000 };
        claimed.push(...(await client.claimRuns(params)).runs);
      }
      const items = claimed.map((c) => ({
        runId: c.run.id,
        leaseToken: c.run.leaseToken,
        outcome: "complete" as const,
        output: c.run.id,
      }));
      const results = await client.finishRuns({ items });
      assert.equal(results.length, total);
      assert.ok(results.every((r) => r.ok));
      const last = claimed[total - 1]?.run.id ?? "";
      assert.equal((await db.store.getRun({ namespace: "default", id: last }))?.output, last);
    } finally {
      client.close();
      await server.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("claims the next batch ahead for a loop that claims full batches often, and gives back what it does not take in time", async () => {
    const db = await openTestSqlite();
    const dataDir = mkdtempSync(join(tmpdir(), "kiln-ahead-"));
    const server = await startServer({ store: db.store, dataDir, port: 0, logger: silentLogger(), rateLimit: false });
    const token = (await db.store.createToken({ name: "w", namespace: "default", role: "worker" })).plaintext;
    const client = new HttpEngineClient({
      url: server.url,
      token,
      claimAheadBatches: 2,
      claimAheadWindowMs: 60_000,
      claimAheadHoldMs: 1000,
    });
    const count = async (status: "running" | "queued") =>
      (await db.store.listRuns({ namespace: "default", status, limit: 100 })).runs.length;
    try {
      await db.store.startRuns({
        runs: Array.from({ length: 10 }, () => ({ namespace: "default", type: "task" as const, name: "t" })),
      });
      const notes: string[] = [];
      const unsubscribe = await client.subscribe((n) => notes.push(n.queue));
      const params = { namespace: "default", queues: ["default"], owner: "w1", limit: 2, leaseMs: 30_000 };
      // The first claim of a loop only claims; a second full one soon after also claims the next
      // two batches ahead.
      assert.equal((await client.claimRuns(params)).runs.length, 2);
      assert.equal((await client.claimRuns(params)).runs.length, 2);
      await until("the next batches are claimed ahead", async () => (await count("running")) === 8);
      await until("the worker is told about them", async () => notes.includes("default"));
      const ahead = await client.claimRuns(params);
      assert.equal(ahead.runs.length, 2, "a batch claimed ahead is handed out");
      assert.ok(ahead.runs.every((c) => c.run.leaseOwner === "w1" && c.run.status === "running"));
      // The worker takes no more: the batch still waiting goes back after the hold time.
      await until("runs claimed ahead and not taken go back", async () => (await count("running")) === 6);
      await until("...to their queue", async () => (await count("queued")) === 4);
      await unsubscribe();
      assert.equal(await count("running"), 6, "only the runs handed out stay leased");
    } finally {
      client.close();
      await server.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
