import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { type TestStore, forEachStore } from "../../tests/support/test-db.ts";
import { HostPool } from "./host-pool.ts";
import { counted, eventually, hostHarness, makeWorkflowDirectory } from "../../tests/support/host-harness.ts";

/** KILN_TEST_PYTHON picks the interpreter (e.g. a Python 3.9 to check the minimum version). */
const PYTHON = process.env.KILN_TEST_PYTHON ? { python: process.env.KILN_TEST_PYTHON } : {};

const README_PY = `def workflow(input, ctx):
    def greet():
        with open(input["counter"], "a") as f:
            f.write("greet\\n")
        return "Hello, %s!" % input["name"]

    greeting = ctx.step("greet", greet)
    ctx.sleep("wait", 5)
    return ctx.step("complete", lambda: {"message": greeting})
`;

const ASYNC_PY = `import asyncio
from helper_mod import triple

async def workflow(input, ctx):
    async def slow(n):
        await asyncio.sleep(0.01)
        return triple(n)

    a, b = await asyncio.gather(ctx.step("a", lambda: slow(1)), ctx.step("b", lambda: slow(2)))
    await ctx.sleep("wait", "5s")
    return await ctx.step("sum", lambda: a + b)
`;

const SAGA_PY = `from kiln_runtime import KilnError

def workflow(input, ctx):
    def undo(booking):
        with open(input["counter"], "a") as f:
            f.write("cancel %s\\n" % booking)

    ctx.step("flight", lambda: "F1", compensate=undo)
    ctx.step("hotel", lambda: "H1", compensate=undo)
    def car():
        raise KilnError("INVALID_INPUT", "no cars")
    ctx.step("car", car)
`;

const EVENTS_PY = `from kiln_runtime import KilnError

def workflow(input, ctx):
    try:
        return ctx.wait_for_event("approved", event="order.approved", key=input["order"], timeout=input.get("timeout"))
    except KilnError as error:
        return error.code
`;

const PARENT_PY = `def workflow(input, ctx):
    return ctx.all([
        lambda: ctx.task("double", {"n": 1}, name="d1"),
        lambda: ctx.task("double", {"n": 2}, name="d2"),
        lambda: ctx.step("local", lambda: {"n": 100}),
        lambda: ctx.workflow("child-py", {"x": 5}),
    ])
`;

const CHILD_PY = `async def workflow(input, ctx):
    return await ctx.step("square", lambda: input["x"] * input["x"])
`;

const DICE_PY = `def workflow(input, ctx):
    roll = [ctx.random(), ctx.uuid(), ctx.now_ms(), ctx.now().isoformat()]
    ctx.log("rolled %s" % roll[0])
    ctx.sleep("nap", 1)
    return roll
`;

const RETRY_PY = `def workflow(input, ctx):
    def flaky():
        with open(input["counter"], "a") as f:
            f.write("try\\n")
        with open(input["counter"]) as f:
            tries = len(f.read().split())
        if tries < 3:
            raise ValueError("boom %d" % tries)
        return tries
    return ctx.step("call", flaky, retry={"max_attempts": 5, "initial_interval": 0.1, "backoff_coefficient": 2})
`;

forEachStore("Python workflow hosts", ({ dialect, open }) => {
  const clock = { now: 1_000_000 };
  let db: TestStore;
  let pool: HostPool;
  let dir: string;

  before(async () => {
    db = await open({ clock: () => clock.now });
    dir = makeWorkflowDirectory();
    pool = new HostPool({ size: 2, directory: dir, ...PYTHON });
  });
  after(async () => {
    await pool?.close();
    await db?.close();
  });

  it("runs the README shape: ctx.step, durable ctx.sleep, ctx.step", async () => {
    const h = hostHarness(db, clock, "py-readme", pool);
    await h.deploy("hello", README_PY, "python");
    const counter = join(dir, `py-readme-${dialect}`);
    const id = await h.start("hello", { name: "Ada", counter });
    assert.equal(await h.drain(), 1);
    const parked = await h.run(id);
    assert.equal(parked.status, "sleeping", JSON.stringify(parked.error));
    assert.equal(parked.availableAt, clock.now + 5000);
    clock.now += 5000;
    assert.equal(await h.drain(), 1);
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { message: "Hello, Ada!" });
    assert.deepEqual(counted(counter), ["greet"]);
    assert.deepEqual(
      (await h.steps(id)).map((s) => [s.name, s.type, s.status]),
      [
        ["greet", "step", "completed"],
        ["wait", "sleep", "completed"],
        ["complete", "step", "completed"],
      ],
    );
  });

  it("runs async def workflows with asyncio.gather and imports from the workflow directory", async () => {
    const h = hostHarness(db, clock, "py-async", pool);
    await h.deploy("gather", ASYNC_PY, "python");
    const id = await h.start("gather");
    await h.drain();
    assert.equal((await h.run(id)).status, "sleeping", JSON.stringify((await h.run(id)).error));
    clock.now += 5000;
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.equal(run.output, 9);
    assert.deepEqual(
      (await h.steps(id)).map((s) => s.name),
      ["a", "b", "wait", "sum"],
    );
  });

  it("compensates completed steps in reverse order when the run fails", async () => {
    const h = hostHarness(db, clock, "py-saga", pool);
    await h.deploy("trip", SAGA_PY, "python");
    const counter = join(dir, `py-saga-${dialect}`);
    const id = await h.start("trip", { counter });
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "compensated", JSON.stringify(run.error));
    assert.equal(run.error?.code, "INVALID_INPUT");
    assert.deepEqual(counted(counter), ["cancel H1", "cancel F1"]);
    assert.deepEqual(
      (await h.steps(id)).map((s) => [s.name, s.status]),
      [
        ["flight", "compensated"],
        ["hotel", "compensated"],
        ["car", "failed"],
        ["compensate:hotel", "completed"],
        ["compensate:flight", "completed"],
      ],
      "compensated steps marked, compensations listed in the order they ran",
    );
  });

  it("waits for events by key and times out with EVENT_TIMEOUT", async () => {
    const ns = "py-events";
    const h = hostHarness(db, clock, ns, pool);
    await h.deploy("approval", EVENTS_PY, "python");
    await db.store.sendEvent({ namespace: ns, name: "order.approved", key: "o-1", payload: { ok: true } });
    const early = await h.start("approval", { order: "o-1" });
    const late = await h.start("approval", { order: "o-2" });
    const impatient = await h.start("approval", { order: "o-3", timeout: 60 });
    await h.drain();
    assert.deepEqual((await h.run(early)).output, { ok: true });
    assert.equal((await h.run(late)).status, "waiting");
    await db.store.sendEvent({ namespace: ns, name: "order.approved", key: "o-2", payload: { ok: false } });
    await h.drain();
    assert.deepEqual((await h.run(late)).output, { ok: false });
    clock.now += 60_000;
    await h.drain();
    assert.equal((await h.run(impatient)).output, "EVENT_TIMEOUT");
  });

  it("cancels a sleeping run and runs its compensations", async () => {
    const h = hostHarness(db, clock, "py-cancel", pool);
    await h.deploy(
      "booker",
      `def workflow(input, ctx):
    def release(r):
        with open(input["counter"], "a") as f:
            f.write("release %s\\n" % r)
    ctx.step("reserve", lambda: "R", compensate=release)
    ctx.sleep("hold", "1h")
`,
      "python",
    );
    const counter = join(dir, `py-cancel-${dialect}`);
    const id = await h.start("booker", { counter });
    await h.drain();
    assert.equal((await h.run(id)).status, "sleeping");
    assert.equal((await db.store.cancelRun({ namespace: "py-cancel", id })).status, "cancelling");
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

  it("compensates a run that times out while waiting, and re-runs it all on retry", async () => {
    const h = hostHarness(db, clock, "py-timeout", pool);
    await h.deploy(
      "booker",
      `def workflow(input, ctx):
    def book():
        with open(input["counter"], "a") as f:
            f.write("book\\n")
        return "B"
    def release(r):
        with open(input["counter"], "a") as f:
            f.write("release %s\\n" % r)
    ctx.step("reserve", book, compensate=release)
    return ctx.wait_for_event("confirm", event="confirm.%s" % input["tag"])
`,
      "python",
    );
    const counter = join(dir, `py-timeout-${dialect}`);
    const id = await h.start("booker", { counter, tag: dialect }, { timeoutMs: 2000 });
    await h.drain();
    assert.equal((await h.run(id)).status, "waiting", JSON.stringify((await h.run(id)).error));
    clock.now += 2000;
    await db.store.sweep();
    await h.drain();
    const run = await h.run(id);
    assert.deepEqual([run.status, run.error?.code], ["compensated", "RUN_TIMEOUT"]);
    assert.deepEqual(counted(counter), ["book", "release B"]);
    assert.deepEqual(
      (await h.steps(id)).map((s) => [s.name, s.status]),
      [
        ["reserve", "compensated"],
        ["confirm", "cancelled"],
        ["compensate:reserve", "completed"],
      ],
    );
    // A retry books again (the saga undid the booking) and waits again.
    await db.store.retryRun({ namespace: "py-timeout", id });
    await h.drain();
    assert.equal((await h.run(id)).status, "waiting");
    assert.deepEqual(counted(counter), ["book", "release B", "book"]);
    await db.store.sendEvent({ namespace: "py-timeout", name: `confirm.${dialect}`, payload: "ok" });
    await h.drain();
    assert.deepEqual([(await h.run(id)).status, (await h.run(id)).output], ["completed", "ok"]);
  });

  it("fails a step whose result is over the payload limit", async () => {
    const h = hostHarness(db, clock, "py-big", pool);
    await h.deploy(
      "big",
      `def workflow(input, ctx):
    try:
        ctx.step("huge", lambda: "x" * (2 * 1048576))
    except Exception as e:
        return ctx.step("after", lambda: getattr(e, "code", str(e)))
`,
      "python",
    );
    const id = await h.start("big");
    await h.drain();
    const run = await h.run(id);
    assert.deepEqual([run.status, run.output], ["completed", "PAYLOAD_TOO_LARGE"], JSON.stringify(run.error));
    assert.equal((await h.steps(id))[0]?.status, "failed");
  });

  it("runs child tasks and a child workflow side by side with ctx.all", async () => {
    const h = hostHarness(db, clock, "py-children", pool);
    h.task("double", (input: { n: number }) => ({ n: input.n * 2 }));
    await h.deploy("parent-py", PARENT_PY, "python");
    await h.deploy("child-py", CHILD_PY, "python");
    const id = await h.start("parent-py");
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, [{ n: 2 }, { n: 4 }, { n: 100 }, 25]);
  });

  it("gives deterministic random/uuid/now across replays, and logs once", async () => {
    const h = hostHarness(db, clock, "py-dice", pool);
    await h.deploy("dice", DICE_PY, "python");
    const id = await h.start("dice");
    await h.drain();
    clock.now += 1000;
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    const [random, uuid, nowMs] = run.output as [number, string, number, string];
    assert.ok(random >= 0 && random < 1);
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(nowMs, run.createdAt);
    const { seededRandom } = await import("../workflow/deterministic.ts");
    assert.equal(random, seededRandom(id)(), "the same sequence as the JS runtime");
    const logs = (await db.store.listLogs({ runId: id })).filter((l) => l.message.startsWith("rolled"));
    assert.equal(logs.length, 1, "ctx.log is not repeated by replays");
  });

  it("retries a failing step durably with backoff", async () => {
    const h = hostHarness(db, clock, "py-retry", pool);
    await h.deploy("flaky", RETRY_PY, "python");
    const counter = join(dir, `py-retry-${dialect}`);
    const id = await h.start("flaky", { counter });
    await h.drain();
    assert.equal((await h.run(id)).status, "sleeping");
    clock.now += 100;
    await h.drain();
    clock.now += 200;
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.equal(run.output, 3);
    assert.equal((await h.steps(id))[0]?.attempt, 3);
  });

  it("replaces a host killed with SIGKILL mid-activation", async () => {
    const h = hostHarness(db, clock, "py-sigkill", pool);
    await h.deploy(
      "slow",
      `import time

def workflow(input, ctx):
    def mark(line):
        with open(input["counter"], "a") as f:
            f.write(line + "\\n")
    ctx.step("before", lambda: mark("before"))
    def slow():
        mark("slow")
        time.sleep(0.3)
        return "done"
    ctx.step("slow", slow)
    return "finished"
`,
      "python",
    );
    const counter = join(dir, `py-sigkill-${dialect}`);
    const id = await h.start("slow", { counter });
    const ticking = h.worker.tick();
    await eventually(() => counted(counter).includes("slow"));
    const busy = pool.hosts("python").filter((host) => host.busy);
    assert.equal(busy.length, 1);
    process.kill(busy[0]?.pid as number, "SIGKILL");
    await ticking;
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(counted(counter), ["before", "slow", "slow"]);
  });

  it("cuts an infinite loop with ACTIVATION_TIMEOUT", async () => {
    const tight = new HostPool({ size: 1, directory: dir, limits: { cpuLimitMs: 400 }, ...PYTHON });
    try {
      const h = hostHarness(db, clock, "py-loop", tight);
      await h.deploy("spin", `def workflow(input, ctx):\n    while True:\n        pass\n`, "python");
      const id = await h.start("spin");
      await h.drain();
      const run = await h.run(id);
      assert.equal(run.status, "failed");
      assert.equal(run.error?.code, "ACTIVATION_TIMEOUT");
    } finally {
      await tight.close();
    }
  });

  it("catches a non-deterministic change on replay", async () => {
    const h = hostHarness(db, clock, "py-drift", pool);
    await h.deploy(
      "drift",
      `def workflow(i, ctx):\n    ctx.step("charge", lambda: 1)\n    ctx.sleep("pause", 1)\n    return "v1"\n`,
      "python",
    );
    const id = await h.start("drift");
    await h.drain();
    await h.deploy(
      "drift",
      `def workflow(i, ctx):\n    ctx.step("refund", lambda: 1)\n    ctx.sleep("pause", 1)\n    return "v2"\n`,
      "python",
    );
    clock.now += 1000;
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.error?.code, "NON_DETERMINISTIC");
    assert.match(run.error?.message ?? "", /"charge".*"refund"/);
  });

  it("reports a syntax error as WORKFLOW_LOAD_FAILED with the line", async () => {
    const h = hostHarness(db, clock, "py-broken", pool);
    await h.deploy("broken", "def workflow(input, ctx)\n    return 1\n", "python");
    const id = await h.start("broken");
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.error?.code, "WORKFLOW_LOAD_FAILED");
    assert.match(run.error?.message ?? "", /broken\.py:1/);
  });
});
