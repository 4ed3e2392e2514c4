import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type TestStore, forEachStore } from "../../tests/support/test-db.ts";
import { HostPool } from "./host-pool.ts";
import { counted, eventually, hostHarness, makeWorkflowDirectory } from "../../tests/support/host-harness.ts";

const README_JS = `async function workflow(input, { step, sleep }) {
  const greeting = await step("greet", () => {
    require("node:fs").appendFileSync(input.counter, "greet\\n");
    return \`Hello, \${input.name}!\`;
  });
  await sleep("wait", 5000);
  return await step("complete", () => ({ message: greeting }));
}
`;

const README_TS = `interface Input { name: string; counter: string }
type Ctx = { step<T>(name: string, fn: () => T): Promise<T>; sleep(name: string, ms: number): Promise<void> };
import { appendFileSync } from "node:fs";

export default async function hello(input: Input, { step, sleep }: Ctx): Promise<{ message: string }> {
  const greeting = await step("greet", (): string => {
    appendFileSync(input.counter, "greet\\n");
    return \`Hello, \${input.name}!\`;
  });
  await sleep("wait", 5000);
  return await step("complete", () => ({ message: greeting as string }));
}
`;

const DEFINED = `import { defineWorkflow } from "kiln/workflow";
import { createHash } from "node:crypto";
import { shout } from "kiln-fixture-pkg";
import { twice } from "./lib.mjs";

export default defineWorkflow({ name: "defined", version: "1" }, async (input, ctx) => {
  const hash = await ctx.step("hash", () => createHash("sha256").update("kiln").digest("hex").slice(0, 8));
  const loud = await ctx.step("shout", () => shout(input.word));
  const n = await ctx.step("twice", () => twice(21));
  const page = await ctx.step("fetch", async () => (await fetch(input.url)).text());
  console.log("fetched %s", page);
  return { hash, loud, n, page };
});
`;

const SAGA = `export default async function trip(input, { step }) {
  const log = (line) => require("node:fs").appendFileSync(input.counter, line + "\\n");
  await step("flight", () => "F1", { compensate: (id) => log("cancel " + id) });
  await step("hotel", () => "H1", { compensate: (id) => log("cancel " + id) });
  await step("car", () => { throw new Error("no cars"); });
}
`;

const EVENTS = `module.exports = async function approval(input, { waitForEvent }) {
  try {
    return await waitForEvent("approved", { event: "order.approved", key: input.order, timeout: input.timeout });
  } catch (e) {
    return e.code;
  }
};
`;

const PARENT = `async function workflow(input, ctx) {
  return await Promise.all([
    ctx.task("double", { n: 1 }, { name: "d1" }),
    ctx.task("double", { n: 2 }, { name: "d2" }),
    ctx.step("local", () => ({ n: 100 })),
    ctx.workflow("child-js", { x: 5 }),
  ]);
}
`;

const CHILD = `async function workflow(input, { step }) {
  return await step("square", () => input.x * input.x);
}
`;

forEachStore("Node workflow hosts", ({ dialect, open }) => {
  const clock = { now: 1_000_000 };
  let db: TestStore;
  let pool: HostPool;
  let dir: string;
  let server: Server;
  let url: string;

  before(async () => {
    db = await open({ clock: () => clock.now });
    dir = makeWorkflowDirectory();
    pool = new HostPool({ size: 2, directory: dir });
    server = createServer((_req, res) => res.end("pong"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await pool?.close();
    server?.close();
    await db?.close();
  });

  for (const [shape, source] of [
    ["a bare JS script", README_JS],
    ["TypeScript with an export default", README_TS],
  ] as const) {
    it(`runs the README workflow deployed as ${shape}: step, durable sleep, step`, async () => {
      const h = hostHarness(db, clock, `readme-${shape.length}`, pool);
      await h.deploy("hello", source);
      const counter = join(dir, `counter-${shape.length}-${dialect}`);
      const id = await h.start("hello", { name: "Ada", counter });
      assert.equal(await h.drain(), 1);
      const parked = await h.run(id);
      assert.equal(parked.status, "sleeping");
      assert.equal(parked.availableAt, clock.now + 5000);
      clock.now += 4999;
      assert.equal(await h.drain(), 0, "not due yet");
      clock.now += 1;
      assert.equal(await h.drain(), 1);
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, { message: "Hello, Ada!" });
      assert.deepEqual(counted(counter), ["greet"], "the memoized step ran once across two activations");
      assert.deepEqual(
        (await h.steps(id)).map((s) => [s.name, s.type, s.status]),
        [
          ["greet", "step", "completed"],
          ["wait", "sleep", "completed"],
          ["complete", "step", "completed"],
        ],
      );
    });
  }

  it("runs defineWorkflow code importing built-ins, a package and a module from its directory, and fetch", async () => {
    const h = hostHarness(db, clock, "defined", pool);
    await h.deploy("defined", DEFINED);
    const id = await h.start("defined", { word: "kiln", url });
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    const { hash, ...rest } = run.output as { hash: string };
    assert.deepEqual(rest, { loud: "KILN!", n: 42, page: "pong" });
    assert.match(hash, /^[0-9a-f]{8}$/);
    const logs = await db.store.listLogs({ runId: id });
    assert.ok(
      logs.some((l) => l.message === "fetched pong" && l.level === "info"),
      "console output of a run alone on its host reaches its log",
    );
  });

  it("compensates completed steps in reverse order when the run fails", async () => {
    const h = hostHarness(db, clock, "saga", pool);
    await h.deploy("trip", SAGA);
    const counter = join(dir, `saga-${dialect}`);
    const id = await h.start("trip", { counter });
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "compensated", JSON.stringify(run.error));
    assert.match(run.error?.message ?? "", /no cars/);
    assert.deepEqual(counted(counter), ["cancel H1", "cancel F1"]);
    const comp = (await h.steps(id)).filter((s) => s.type === "compensation");
    assert.deepEqual(comp.map((s) => [s.name, s.status]).sort(), [
      ["compensate:flight", "completed"],
      ["compensate:hotel", "completed"],
    ]);
  });

  it("cancels a sleeping run and runs its compensations", async () => {
    const h = hostHarness(db, clock, "cancel", pool);
    await h.deploy(
      "booker",
      `async function workflow(input, { step, sleep }) {
          await step("reserve", () => "R", { compensate: (r) => require("node:fs").appendFileSync(input.counter, "release " + r + "\\n") });
          await sleep("hold", "1h");
        }`,
    );
    const counter = join(dir, `cancel-${dialect}`);
    const id = await h.start("booker", { counter });
    await h.drain();
    assert.equal((await h.run(id)).status, "sleeping");
    await db.store.cancelRun({ namespace: "cancel", id });
    await h.drain();
    const run = await h.run(id);
    assert.deepEqual([run.status, run.error?.code], ["compensated", "RUN_CANCELLED"]);
    assert.deepEqual(counted(counter), ["release R"]);
    assert.deepEqual(
      (await h.steps(id)).map((s) => [s.name, s.status]),
      [
        ["reserve", "compensated"],
        ["hold", "cancelled"],
        ["compensate:reserve", "completed"],
      ],
    );
  });

  it("waits for events (buffered or later, by key) and times out with EVENT_TIMEOUT", async () => {
    const ns = "events";
    const h = hostHarness(db, clock, ns, pool);
    await h.deploy("approval", EVENTS);
    await db.store.sendEvent({ namespace: ns, name: "order.approved", key: "o-1", payload: { ok: true } });
    const early = await h.start("approval", { order: "o-1" });
    const late = await h.start("approval", { order: "o-2" });
    const impatient = await h.start("approval", { order: "o-3", timeout: "1m" });
    await h.drain();
    assert.deepEqual((await h.run(early)).output, { ok: true });
    assert.equal((await h.run(late)).status, "waiting");
    const sent = await db.store.sendEvent({
      namespace: ns,
      name: "order.approved",
      key: "o-2",
      payload: { ok: false },
    });
    assert.equal(sent.deliveredTo, late);
    await h.drain();
    assert.deepEqual((await h.run(late)).output, { ok: false });
    clock.now += 60_000;
    await h.drain();
    assert.equal((await h.run(impatient)).output, "EVENT_TIMEOUT");
  });

  it("fans out child tasks, a step and a deployed child workflow with Promise.all", async () => {
    const h = hostHarness(db, clock, "children", pool);
    h.task("double", (input: { n: number }) => ({ n: input.n * 2 }));
    await h.deploy("parent-js", PARENT);
    await h.deploy("child-js", CHILD);
    const id = await h.start("parent-js");
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, [{ n: 2 }, { n: 4 }, { n: 100 }, 25]);
    const children = await db.store.listRuns({ namespace: "children", parentRunId: id });
    assert.equal(children.runs.length, 3);
  });

  it("replaces a host killed with SIGKILL mid-activation and completes the run", async () => {
    const h = hostHarness(db, clock, "sigkill", pool);
    await h.deploy(
      "slow",
      `async function workflow(input, { step }) {
          const fs = require("node:fs");
          await step("before", () => fs.appendFileSync(input.counter, "before\\n"));
          await step("slow", async () => {
            fs.appendFileSync(input.counter, "slow\\n");
            await new Promise((r) => setTimeout(r, 300));
            return "done";
          });
          return "finished";
        }`,
    );
    const counter = join(dir, `sigkill-${dialect}`);
    const id = await h.start("slow", { counter });
    const ticking = h.worker.tick();
    await eventually(() => counted(counter).includes("slow"));
    const busy = pool.hosts("node").filter((host) => host.busy);
    assert.equal(busy.length, 1);
    process.kill(busy[0]?.pid as number, "SIGKILL");
    await ticking;
    assert.equal((await h.run(id)).status, "queued", "the run was given back for another activation");
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.equal(run.output, "finished");
    assert.deepEqual(counted(counter), ["before", "slow", "slow"], "the recorded step was not re-run");
    assert.ok(
      pool.hosts("node").every((host) => host.alive),
      "the dead host left the pool",
    );
  });

  it("replaces a hung host (stopped, silent, no CPU) and completes the run", async () => {
    const touchy = new HostPool({ size: 1, directory: dir, limits: { unresponsiveMs: 300 } });
    try {
      const h = hostHarness(db, clock, "hung", touchy);
      await h.deploy(
        "stuck",
        `async function workflow(input, { step }) {
            return await step("once", async () => {
              const fs = require("node:fs");
              const first = !fs.existsSync(input.counter);
              fs.appendFileSync(input.counter, "try\\n");
              if (first) await new Promise((r) => setTimeout(r, 10_000));
              return "ok";
            });
          }`,
      );
      const counter = join(dir, `hung-${dialect}`);
      const id = await h.start("stuck", { counter });
      const ticking = h.worker.tick();
      await eventually(() => counted(counter).length === 1);
      const [host] = touchy.hosts("node");
      process.kill(host?.pid as number, "SIGSTOP");
      await ticking;
      assert.equal((await h.run(id)).status, "queued", "the hung host was given up and the run released");
      await eventually(() => host?.alive === false);
      await h.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.equal(counted(counter).length, 2);
    } finally {
      await touchy.close();
    }
  });

  it("cuts an infinite loop with ACTIVATION_TIMEOUT and keeps serving other runs", async () => {
    const tight = new HostPool({ size: 1, directory: dir, limits: { cpuLimitMs: 400 } });
    try {
      const h = hostHarness(db, clock, "loop", tight);
      await h.deploy("spin", `async function workflow(input, { step }) { await step("a", () => 1); while (true) {} }`);
      await h.deploy("fine", `async function workflow(input, { step }) { return await step("a", () => "ok"); }`);
      const spin = await h.start("spin");
      const started = Date.now();
      await h.drain();
      const run = await h.run(spin);
      assert.equal(run.status, "failed");
      assert.equal(run.error?.code, "ACTIVATION_TIMEOUT");
      assert.match(run.error?.message ?? "", /infinite loop/);
      assert.ok(Date.now() - started < 8000, "cut promptly");
      const fine = await h.start("fine");
      await h.drain();
      assert.equal((await h.run(fine)).output, "ok");
    } finally {
      await tight.close();
    }
  });

  it("tells a looping run from the innocent runs sharing its host", async () => {
    const shared = new HostPool({ size: 1, activationsPerHost: 4, directory: dir, limits: { cpuLimitMs: 400 } });
    try {
      const h = hostHarness(db, clock, "shared-loop", shared);
      await h.deploy("spin", `async function workflow(input, { step }) { await step("a", () => 1); while (true) {} }`);
      await h.deploy(
        "patient",
        `async function workflow(input, { step }) {
            return await step("wait", () => new Promise((r) => setTimeout(() => r("patient done"), 50)));
          }`,
      );
      const patient = await h.start("patient");
      const spin = await h.start("spin");
      await h.drain();
      const looped = await h.run(spin);
      assert.equal(looped.status, "failed");
      assert.equal(looped.error?.code, "ACTIVATION_TIMEOUT");
      const innocent = await h.run(patient);
      assert.equal(innocent.status, "completed", JSON.stringify(innocent.error));
      assert.equal(innocent.output, "patient done");
    } finally {
      await shared.close();
    }
  });

  it("fails code that does not load with WORKFLOW_LOAD_FAILED", async () => {
    const h = hostHarness(db, clock, "broken", pool);
    await h.deploy("nofn", `const x = 1;`);
    await h.deploy("throws", `throw new Error("top-level boom"); async function workflow() {}`);
    const a = await h.start("nofn");
    const b = await h.start("throws");
    await h.drain();
    assert.equal((await h.run(a)).error?.code, "WORKFLOW_LOAD_FAILED");
    assert.match((await h.run(a)).error?.message ?? "", /defines no workflow/);
    assert.equal((await h.run(b)).error?.code, "WORKFLOW_LOAD_FAILED");
    assert.match((await h.run(b)).error?.message ?? "", /top-level boom/);
  });

  it("catches a non-deterministic change when a parked run replays against new code", async () => {
    const h = hostHarness(db, clock, "drift", pool);
    await h.deploy(
      "drift",
      `async function workflow(i, { step, sleep }) { await step("charge", () => 1); await sleep("pause", 1000); return "v1"; }`,
    );
    const id = await h.start("drift"); // unpinned: runs the latest version
    await h.drain();
    assert.equal((await h.run(id)).status, "sleeping");
    await h.deploy(
      "drift",
      `async function workflow(i, { step, sleep }) { await step("refund", () => 1); await sleep("pause", 1000); return "v2"; }`,
    );
    clock.now += 1000;
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "failed");
    assert.equal(run.error?.code, "NON_DETERMINISTIC");
    assert.match(run.error?.message ?? "", /"charge".*"refund"/);
  });

  it("runs pinned versions with their own code", async () => {
    const h = hostHarness(db, clock, "pinned", pool);
    await h.deploy("ver", `async function workflow() { return "one"; }`);
    await h.deploy("ver", `async function workflow() { return "two"; }`);
    const one = await h.start("ver", null, { version: "1" });
    const two = await h.start("ver", null, { version: "2" });
    await h.drain();
    assert.equal((await h.run(one)).output, "one");
    assert.equal((await h.run(two)).output, "two");
  });
});

describe("Node workflow hosts on the real clock", () => {
  it("runs in the worker's background loop with a real sleep", async () => {
    const { openTestSqlite } = await import("../../tests/support/test-db.ts");
    const db = await openTestSqlite();
    const pool = new HostPool({ size: 1 });
    const clock = { now: 0 };
    const h = hostHarness(db, clock, "realtime", pool);
    // The harness worker uses the manual clock; this one runs on Date.now.
    const { Worker } = await import("../worker/worker.ts");
    const { DeployedWorkflowResolver } = await import("./deployed-workflows.ts");
    const { HostRunner } = await import("./host-runner.ts");
    const worker = new Worker({
      client: db.store,
      housekeeper: db.store,
      namespace: "realtime",
      pollIntervalMs: 20,
      sweepIntervalMs: 20,
    });
    worker.registry.addResolver(new DeployedWorkflowResolver({ source: h.source, runner: new HostRunner(pool) }));
    try {
      await h.deploy(
        "nap",
        `async function workflow(i, { step, sleep }) { const a = await step("a", () => 1); await sleep("nap", 50); return a + 1; }`,
      );
      const { run } = await db.store.startRun({ namespace: "realtime", type: "workflow", name: "nap" });
      await worker.start();
      await eventually(
        async () => (await db.store.getRun({ namespace: "realtime", id: run.id }))?.status === "completed",
      );
      assert.equal((await db.store.getRun({ namespace: "realtime", id: run.id }))?.output, 2);
    } finally {
      await worker.stop();
      await pool.close();
      await db.close();
    }
  });
});
