import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openTestPostgres, openTestSqlite, postgresSkip } from "../../tests/support/test-db.ts";
import { hasCode, KilnError } from "../errors.ts";
import { resolveRetryPolicy } from "../engine/retry-policy.ts";
import type { Store } from "../store/store.ts";
import { Worker } from "./worker.ts";
import type { WorkflowContext } from "../workflow/workflow-context.ts";

/** A worker and a store on one controllable clock. */
interface Harness {
  store: Store;
  worker: Worker;
  clock: { now: number };
  start(name: string, input?: unknown, extra?: Record<string, unknown>): Promise<string>;
  status(id: string): Promise<string>;
  run(id: string): ReturnType<Store["getRun"]>;
}

const storeFactories: [string, (clock: () => number) => Promise<{ store: Store; close(): Promise<void> }>][] = [
  ["sqlite", (clock) => openTestSqlite({ clock })],
  ["postgres", (clock) => openTestPostgres({ clock })],
];

for (const [dialect, open] of storeFactories) {
  describe(`worker on ${dialect}`, { skip: dialect === "postgres" ? postgresSkip() : false }, () => {
    const clock = { now: 1_000_000 };
    let db: { store: Store; close(): Promise<void> };
    before(async () => {
      db = await open(() => clock.now);
    });
    after(async () => {
      await db?.close();
    });

    function harness(ns: string, configure: (w: Worker) => void, opts: { concurrency?: number } = {}): Harness {
      const worker = new Worker({
        client: db.store,
        housekeeper: db.store,
        namespace: ns,
        clock: () => clock.now,
        leaseMs: 10_000,
        concurrency: opts.concurrency ?? 16,
      });
      configure(worker);
      return {
        store: db.store,
        worker,
        clock,
        start: async (name, input, extra = {}) =>
          (await db.store.startRun({ namespace: ns, type: "workflow", name, input, ...extra })).run.id,
        status: async (id) => (await db.store.getRun({ namespace: ns, id }))?.status ?? "missing",
        run: (id) => db.store.getRun({ namespace: ns, id }),
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

    it("runs the README workflow shape unchanged: step, durable sleep, step", async () => {
      let greets = 0;
      const h = harness("readme", (w) =>
        wf(w, "hello", async function workflow(input: { name: string }, { step, sleep }) {
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
      assert.equal((await h.run(id))?.availableAt, clock.now + 5000);
      clock.now += 4999;
      assert.equal(await h.worker.drain(), 0, "not due yet");
      clock.now += 1;
      assert.equal(await h.worker.drain(), 1);
      const run = await h.run(id);
      assert.equal(run?.status, "completed");
      assert.deepEqual(run?.output, { message: "Hello, Ada!" });
      assert.equal(greets, 1, "the memoized step ran once across two activations");
      const steps = await h.store.listSteps({ runId: id });
      assert.deepEqual(
        steps.map((s) => [s.name, s.type, s.status]),
        [
          ["greet", "step", "completed"],
          ["wait", "sleep", "completed"],
          ["complete", "step", "completed"],
        ],
      );
    });

    it("suffixes repeated step names deterministically", async () => {
      const h = harness("suffix", (w) =>
        wf(w, "loop", async (_: unknown, { step }) => {
          const out: number[] = [];
          for (let i = 0; i < 3; i++) out.push(await step("fetch", () => i));
          return out;
        }),
      );
      const id = await h.start("loop");
      await h.worker.drain();
      assert.deepEqual((await h.run(id))?.output, [0, 1, 2]);
      const names = (await h.store.listSteps({ runId: id })).map((s) => s.name);
      assert.deepEqual(names, ["fetch", "fetch#2", "fetch#3"]);
    });

    it("fails with NON_DETERMINISTIC naming the recorded and the new step", async () => {
      let version = 1;
      const h = harness("nondet", (w) =>
        wf(w, "drift", async (_: unknown, { step, sleep }) => {
          await step(version === 1 ? "charge" : "refund", () => "x");
          await sleep("pause", 1000);
          return "done";
        }),
      );
      const id = await h.start("drift");
      await h.worker.drain();
      assert.equal(await h.status(id), "sleeping");
      version = 2;
      clock.now += 1000;
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run?.status, "failed");
      assert.equal(run?.error?.code, "NON_DETERMINISTIC");
      assert.match(run?.error?.message ?? "", /"charge".*"refund"/);
    });

    it("retries a failing step durably with backoff and then succeeds", async () => {
      let calls = 0;
      const h = harness("stepretry", (w) =>
        wf(w, "flaky", async (_: unknown, { step }) =>
          step(
            "call",
            () => {
              calls++;
              if (calls < 3) throw new Error(`boom ${calls}`);
              return calls;
            },
            { retry: { maxAttempts: 5, initialIntervalMs: 100, backoffCoefficient: 2 } },
          ),
        ),
      );
      const id = await h.start("flaky");
      await h.worker.drain();
      assert.equal(await h.status(id), "sleeping");
      clock.now += 100;
      await h.worker.drain();
      assert.equal(await h.status(id), "sleeping");
      clock.now += 200;
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run?.status, "completed");
      assert.equal(run?.output, 3);
      const [step] = await h.store.listSteps({ runId: id });
      assert.equal(step?.attempt, 3);
    });

    it("lets workflow code catch a terminally failed step; an uncaught one fails the run", async () => {
      const h = harness("stepfail", (w) => {
        wf(w, "catcher", async (_: unknown, { step }) => {
          try {
            await step("bad", () => {
              throw new KilnError("INVALID_INPUT", "nope");
            });
          } catch (e) {
            return `caught ${(e as KilnError).code}`;
          }
        });
        wf(w, "thrower", async (_: unknown, { step }) => step("bad", () => Promise.reject(new Error("kaput"))));
      });
      const a = await h.start("catcher");
      const b = await h.start("thrower");
      await h.worker.drain();
      assert.equal((await h.run(a))?.output, "caught INVALID_INPUT");
      const failed = await h.run(b);
      assert.equal(failed?.status, "failed");
      assert.match(failed?.error?.message ?? "", /kaput/);
    });

    it("fails a step whose result is over the payload cap with PAYLOAD_TOO_LARGE, not a run stuck running", async () => {
      const big = () => "x".repeat(2 * 1024 * 1024);
      const h = harness("oversize", (w) => {
        wf(w, "big-caught", async (_: unknown, { step }) => {
          try {
            await step("huge", big);
          } catch (e) {
            return `caught ${(e as KilnError).code}`;
          }
        });
        wf(w, "big-uncaught", async (_: unknown, { step }) => (await step("huge", big)).length);
      });
      const a = await h.start("big-caught");
      const b = await h.start("big-uncaught");
      await h.worker.drain();
      assert.equal((await h.run(a))?.output, "caught PAYLOAD_TOO_LARGE");
      const failed = await h.run(b);
      assert.equal(failed?.status, "failed");
      assert.equal(failed?.error?.code, "PAYLOAD_TOO_LARGE");
      const [step] = await h.store.listSteps({ runId: b });
      assert.equal(step?.status, "failed");
      assert.equal(step?.attempt, 1, "an oversized result is not retried");
    });

    it("retries a failed run as a new attempt keeping completed steps", async () => {
      let first = 0;
      let flaky = 0;
      const h = harness("runretry", (w) =>
        wf(w, "resume", async (_: unknown, { step }) => {
          await step("first", () => ++first);
          return await step("second", () => {
            if (++flaky === 1) throw new Error("transient");
            return "ok";
          });
        }),
      );
      const id = await h.start("resume", null, {
        retryPolicy: resolveRetryPolicy({ maxAttempts: 2, initialIntervalMs: 50 }),
      });
      await h.worker.drain();
      assert.equal(await h.status(id), "queued");
      clock.now += 50;
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run?.status, "completed");
      assert.equal(run?.attempt, 2);
      assert.equal(first, 1, "completed steps are not re-run by a retry");
    });

    it("delivers an event sent before the wait, and one sent after", async () => {
      const h = harness("events", (w) =>
        wf(w, "approval", async (input: { order: string }, { waitForEvent }) => {
          const a = await waitForEvent<{ ok: boolean }>("approved", { event: "order.approved", key: input.order });
          return a;
        }),
      );
      await h.store.sendEvent({ namespace: "events", name: "order.approved", key: "o-1", payload: { ok: true } });
      const early = await h.start("approval", { order: "o-1" });
      const late = await h.start("approval", { order: "o-2" });
      await h.worker.drain();
      assert.deepEqual((await h.run(early))?.output, { ok: true });
      assert.equal(await h.status(late), "waiting");
      const sent = await h.store.sendEvent({
        namespace: "events",
        name: "order.approved",
        key: "o-2",
        payload: { ok: false },
      });
      assert.equal(sent.deliveredTo, late);
      await h.worker.drain();
      assert.deepEqual((await h.run(late))?.output, { ok: false });
    });

    it("times out an event wait with EVENT_TIMEOUT", async () => {
      const h = harness("evtimeout", (w) =>
        wf(w, "impatient", async (_: unknown, { waitForEvent }) => {
          try {
            await waitForEvent("never", { timeout: "1m" });
            return "got it";
          } catch (e) {
            return (e as KilnError).code;
          }
        }),
      );
      const id = await h.start("impatient");
      await h.worker.drain();
      assert.equal(await h.status(id), "waiting");
      clock.now += 60_000;
      await h.worker.drain();
      assert.equal((await h.run(id))?.output, "EVENT_TIMEOUT");
    });

    it("fans out child tasks and steps with Promise.all and parks until children finish", async () => {
      const h = harness("fanout", (w) => {
        task(w, "double", (input: { n: number }) => ({ n: input.n * 2 }));
        wf(w, "parent", async (_: unknown, ctx) => {
          const results = await Promise.all([
            ctx.task<{ n: number }>("double", { n: 1 }, { name: "d1" }),
            ctx.task<{ n: number }>("double", { n: 2 }, { name: "d2" }),
            ctx.step("local", () => ({ n: 100 })),
            ctx.workflow<number>("child-wf", { x: 5 }),
          ]);
          return results;
        });
        wf(w, "child-wf", async (input: { x: number }, { step }) => step("sq", () => input.x * input.x));
      });
      const id = await h.start("parent");
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run?.status, "completed");
      assert.deepEqual(run?.output, [{ n: 2 }, { n: 4 }, { n: 100 }, 25]);
      const children = await h.store.listRuns({ namespace: "fanout", parentRunId: id });
      assert.equal(children.runs.length, 3);
    });

    it("surfaces a failed child as CHILD_FAILED in the parent", async () => {
      const h = harness("childfail", (w) => {
        task(w, "explode", () => {
          throw new KilnError("INVALID_INPUT", "bad payload");
        });
        wf(w, "parent", async (_: unknown, ctx) => {
          try {
            await ctx.task("explode", {});
          } catch (e) {
            return (e as KilnError).code;
          }
        });
      });
      const id = await h.start("parent");
      await h.worker.drain();
      assert.equal((await h.run(id))?.output, "CHILD_FAILED");
    });

    it("compensates completed steps in reverse order when the run fails", async () => {
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
      const run = await h.run(id);
      assert.equal(run?.status, "compensated");
      assert.equal(run?.error?.code, "INVALID_INPUT");
      assert.deepEqual(undone, ["cancel H1", "cancel F1"]);
      const comp = (await h.store.listSteps({ runId: id })).filter((s) => s.type === "compensation");
      assert.deepEqual(comp.map((s) => [s.name, s.status]).sort(), [
        ["compensate:flight", "completed"],
        ["compensate:hotel", "completed"],
      ]);
    });

    it("cancels a sleeping run with compensations, and propagates cancel to children", async () => {
      const undone: string[] = [];
      const h = harness("cancel", (w) => {
        wf(w, "booker", async (_: unknown, { step, sleep }) => {
          await step("reserve", () => "R", { compensate: () => void undone.push("release R") });
          await sleep("hold", "1h");
        });
        wf(w, "parent", async (_: unknown, ctx) => ctx.workflow("child", {}));
        wf(w, "child", async (_: unknown, { sleep }) => sleep("forever", "1d"));
      });
      const a = await h.start("booker");
      const p = await h.start("parent");
      await h.worker.drain();
      assert.equal(await h.status(a), "sleeping");
      assert.equal((await h.store.cancelRun({ namespace: "cancel", id: a })).status, "cancelling");
      await h.worker.drain();
      // The saga: cancelling → compensating → compensated, the error saying it was cancelled.
      const cancelled = await h.run(a);
      assert.deepEqual([cancelled?.status, cancelled?.error?.code], ["compensated", "RUN_CANCELLED"]);
      assert.deepEqual(undone, ["release R"]);
      assert.deepEqual(
        (await h.store.listSteps({ runId: a })).map((s) => [s.name, s.status]),
        [
          ["reserve", "compensated"],
          ["hold", "cancelled"],
          ["compensate:reserve", "completed"],
        ],
      );

      const [child] = (await h.store.listRuns({ namespace: "cancel", parentRunId: p })).runs;
      assert.equal(child?.status, "sleeping");
      await h.store.cancelRun({ namespace: "cancel", id: p });
      await h.worker.drain();
      assert.equal(await h.status(p), "cancelled", "nothing to compensate: cancelled");
      assert.equal(await h.status(child?.id ?? ""), "cancelled");
      assert.deepEqual(
        (await h.store.listSteps({ runId: p })).map((s) => [s.name, s.status]),
        [["workflow:child", "cancelled"]],
        "the wait on the child is closed, not failed",
      );
    });

    it("cancels a running run with compensations: it compensates once its worker lets go", async () => {
      const undone: string[] = [];
      let release: () => void = () => {};
      const h = harness("cancel-live", (w) =>
        wf(w, "booker", async (_: unknown, { step }) => {
          await step("reserve", () => "R", { compensate: () => void undone.push("release R") });
          await step("pay", () => new Promise<string>((resolve) => (release = () => resolve("P"))));
        }),
      );
      const id = await h.start("booker");
      h.worker.start();
      try {
        for (let i = 0; i < 200 && (await h.store.listSteps({ runId: id })).length === 0; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        assert.equal((await h.store.cancelRun({ namespace: "cancel-live", id })).status, "cancelling");
        release();
        for (let i = 0; i < 500 && (await h.status(id)) !== "compensated"; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      } finally {
        await h.worker.stop();
      }
      assert.equal(await h.status(id), "compensated");
      assert.deepEqual(undone, ["release R"]);
      const steps = await h.store.listSteps({ runId: id });
      assert.equal(steps.find((s) => s.name === "reserve")?.status, "compensated");
    });

    it("compensates a run that times out, and ends compensated with RUN_TIMEOUT", async () => {
      const undone: string[] = [];
      const h = harness("timeout-saga", (w) =>
        wf(w, "booker", async (_: unknown, { step, waitForEvent }) => {
          await step("flight", () => "F", { compensate: (v) => void undone.push(`cancel ${v}`) });
          await step("hotel", () => "H", { compensate: (v) => void undone.push(`cancel ${v}`) });
          await waitForEvent("confirm");
        }),
      );
      const id = await h.start("booker", null, { timeoutMs: 2000 });
      await h.worker.drain();
      assert.equal(await h.status(id), "waiting");
      clock.now += 2000;
      await h.store.sweep();
      assert.equal(await h.status(id), "compensating");
      await h.worker.drain();
      const run = await h.run(id);
      assert.deepEqual([run?.status, run?.error?.code], ["compensated", "RUN_TIMEOUT"]);
      assert.deepEqual(undone, ["cancel H", "cancel F"]);
      assert.deepEqual(
        (await h.store.listSteps({ runId: id })).map((s) => [s.name, s.status]),
        [
          ["flight", "compensated"],
          ["hotel", "compensated"],
          ["confirm", "cancelled"],
          ["compensate:hotel", "completed"],
          ["compensate:flight", "completed"],
        ],
        "compensations listed in the order they ran",
      );
      // No event reaches the closed wait.
      assert.equal((await h.store.sendEvent({ namespace: "timeout-saga", name: "confirm" })).deliveredTo, null);
    });

    it("compensates a run whose worker hits the deadline mid-step", async () => {
      const undone: string[] = [];
      const h = harness("timeout-live", (w) =>
        wf(w, "booker", async (_: unknown, { step }) => {
          await step("flight", () => "F", { compensate: (v) => void undone.push(`cancel ${v}`) });
          await step("slow", () => new Promise(() => {}));
        }),
      );
      // The worker's deadline timer cuts the activation while "slow" hangs (50 ms of real time).
      const id = await h.start("booker", null, { timeoutMs: 50 });
      await h.worker.drain();
      const run = await h.run(id);
      assert.deepEqual([run?.status, run?.error?.code], ["compensated", "RUN_TIMEOUT"]);
      assert.deepEqual(undone, ["cancel F"]);
    });

    it("re-executes compensated steps when a compensated run is retried", async () => {
      const booked: string[] = [];
      let fail = true;
      const h = harness("retry-saga", (w) =>
        wf(w, "booker", async (_: unknown, { step }) => {
          await step("flight", () => void booked.push("F"), { compensate: () => void booked.push("-F") });
          await step("note", () => "n");
          await step("pay", () => {
            if (fail) throw new KilnError("INVALID_INPUT", "card declined");
            return "paid";
          });
          return "done";
        }),
      );
      const id = await h.start("booker");
      await h.worker.drain();
      assert.equal(await h.status(id), "compensated");
      assert.deepEqual(booked, ["F", "-F"]);
      fail = false;
      await h.store.retryRun({ namespace: "retry-saga", id });
      await h.worker.drain();
      const run = await h.run(id);
      assert.deepEqual([run?.status, run?.output], ["completed", "done"]);
      assert.deepEqual(booked, ["F", "-F", "F"], "the undone booking is made again");
      assert.deepEqual(
        (await h.store.listSteps({ runId: id })).map((s) => [s.name, s.status]),
        [
          ["flight", "completed"],
          ["note", "completed"],
          ["pay", "completed"],
        ],
      );
    });

    it("fails a step whose result is over the payload limit instead of leaving the run running", async () => {
      const h = harness("big-step", (w) =>
        wf(w, "big", async (_: unknown, { step }) => {
          try {
            await step("huge", () => "x".repeat(2 * 1_048_576));
          } catch (e) {
            await step("after", () => (e as KilnError).code);
            throw e;
          }
        }),
      );
      const id = await h.start("big");
      await h.worker.drain();
      const run = await h.run(id);
      assert.deepEqual([run?.status, run?.error?.code], ["failed", "PAYLOAD_TOO_LARGE"]);
      const steps = await h.store.listSteps({ runId: id });
      assert.deepEqual(
        steps.map((s) => [s.name, s.status, s.error?.code ?? s.output]),
        [
          ["huge", "failed", "PAYLOAD_TOO_LARGE"],
          ["after", "completed", "PAYLOAD_TOO_LARGE"],
        ],
        "the workflow saw the step fail with PAYLOAD_TOO_LARGE",
      );
    });

    it("gives deterministic now/random/uuid across replays", async () => {
      const seen: unknown[] = [];
      const h = harness("determinism", (w) =>
        wf(w, "dice", async (_: unknown, ctx) => {
          const roll = [ctx.random(), ctx.uuid(), ctx.now()];
          seen.push(roll);
          await ctx.sleep("nap", 10);
          return roll;
        }),
      );
      const id = await h.start("dice");
      await h.worker.drain();
      clock.now += 10;
      await h.worker.drain();
      assert.equal(seen.length, 2);
      assert.deepEqual(seen[0], seen[1]);
      assert.deepEqual((await h.run(id))?.output, seen[0]);
    });

    it("retries a task run per its kind's policy and records attempts", async () => {
      let calls = 0;
      const h = harness("taskretry", (w) =>
        task(
          w,
          "flaky-task",
          () => {
            calls++;
            if (calls < 3) throw new Error("try again");
            return { calls };
          },
          3,
        ),
      );
      const { run } = await h.store.startRun({ namespace: "taskretry", type: "task", name: "flaky-task" });
      await h.worker.drain();
      const done = await h.run(run.id);
      assert.equal(done?.status, "completed");
      assert.equal(done?.attempt, 3);
      assert.deepEqual(done?.output, { calls: 3 });
    });

    it("fails an oversized output with PAYLOAD_TOO_LARGE instead of losing the run", async () => {
      const h = harness("payload", (w) => task(w, "huge", () => "x".repeat(2_000_000)));
      const { run } = await h.store.startRun({ namespace: "payload", type: "task", name: "huge" });
      await h.worker.drain();
      const done = await h.run(run.id);
      assert.equal(done?.status, "failed");
      assert.equal(done?.error?.code, "PAYLOAD_TOO_LARGE");
    });

    it("rejects the writes of a worker whose lease expired (fencing)", async () => {
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
      await new Promise((r) => setTimeout(r, 50));
      clock.now += 11_000; // The first worker's lease has expired.
      await h2.worker.drain();
      assert.equal((await h2.run(id))?.output, 2);
      release();
      await first;
      const run = await h1.run(id);
      assert.equal(run?.output, 2, "the stale worker's result was rejected by the fence");
      const steps = await h1.store.listSteps({ runId: id });
      assert.equal(steps.length, 1);
      assert.equal(steps[0]?.output, 2);
    });

    it("times out a run past its deadline", async () => {
      const h = harness("deadline", (w) => wf(w, "sleepy", async (_: unknown, { sleep }) => sleep("long", "1h")));
      const id = await h.start("sleepy", null, { timeoutMs: 60_000 });
      await h.worker.drain();
      assert.equal(await h.status(id), "sleeping");
      clock.now += 60_000;
      await h.store.sweep({});
      const run = await h.run(id);
      assert.equal(run?.status, "timed_out");
      assert.equal(run?.error?.code, "RUN_TIMEOUT");
    });

    it("start() processes runs in the background and stop() drains", async () => {
      const h = harness("loop", (w) => wf(w, "quick", async (_: unknown, { step }) => step("a", () => 1)));
      await h.worker.start();
      const ids = await Promise.all(Array.from({ length: 20 }, () => h.start("quick")));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const statuses = await Promise.all(ids.map((id) => h.status(id)));
        if (statuses.every((s) => s === "completed")) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await h.worker.stop();
      const statuses = await Promise.all(ids.map((id) => h.status(id)));
      assert.deepEqual(new Set(statuses), new Set(["completed"]));
    });

    it("rejects a run whose workflow is not registered by never claiming it", async () => {
      const h = harness("unknown", () => {});
      const id = await h.start("nobody-knows-me");
      assert.equal(await h.worker.drain(), 0);
      assert.equal(await h.status(id), "queued");
      assert.ok(hasCode(new KilnError("WORKFLOW_NOT_FOUND", "x"), "WORKFLOW_NOT_FOUND"));
    });
  });
}
