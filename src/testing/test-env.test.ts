import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTestEnv, defineWorkflow, KilnError } from "../index.ts";

describe("createTestEnv", () => {
  it("runs the README example: sleeps advance instantly", async () => {
    const env = await createTestEnv({
      workflows: {
        hello: async (input: { name: string }, { step, sleep }) => {
          const greeting = await step("greet", () => `Hello, ${input.name}!`);
          await sleep("wait", "1h");
          return await step("complete", () => ({ message: greeting }));
        },
      },
    });
    try {
      const started = Date.now();
      const run = await env.start("hello", { name: "Ada" });
      assert.equal(run.status, "sleeping");
      await env.advance("59m");
      assert.equal((await env.getRun(run.id)).status, "sleeping");
      await env.advance("1m");
      assert.deepEqual(await env.result(run.id), { message: "Hello, Ada!" });
      assert.ok(Date.now() - started < 2000, "no real waiting");
    } finally {
      await env.close();
    }
  });

  it("fires timers in order while advancing, so chained sleeps all elapse", async () => {
    const env = await createTestEnv({
      workflows: {
        ticker: async (_: unknown, { sleep, now }) => {
          const seen: number[] = [];
          for (let i = 0; i < 3; i++) {
            await sleep("tick", "10m");
            seen.push(now());
          }
          return seen;
        },
      },
    });
    try {
      const run = await env.start("ticker");
      const t0 = env.now();
      await env.advance("30m");
      assert.deepEqual(await env.result(run.id), [t0 + 600_000, t0 + 1_200_000, t0 + 1_800_000]);
    } finally {
      await env.close();
    }
  });

  it("delivers events, times out waits, runs tasks and definitions, and executes to the end", async () => {
    const env = await createTestEnv({
      tasks: { double: async (input) => ({ n: (input as { n: number }).n * 2 }) },
      workflows: {
        approval: defineWorkflow({ name: "approval" }, async (input: { id: string }, ctx) => {
          const doubled = await ctx.task<{ n: number }>("double", { n: 21 });
          try {
            const answer = await ctx.waitForEvent<{ ok: boolean }>("approved", { key: input.id, timeout: "1d" });
            return { doubled: doubled.n, ok: answer.ok };
          } catch (e) {
            return { doubled: doubled.n, timedOut: (e as KilnError).code };
          }
        }),
      },
    });
    try {
      const a = await env.start("approval", { id: "a" });
      assert.equal(a.status, "waiting");
      await env.sendEvent("approved", { ok: true }, { key: "a" });
      assert.deepEqual(await env.result(a.id), { doubled: 42, ok: true });
      const b = await env.execute("approval", { id: "b" });
      assert.equal(b.status, "completed");
      assert.deepEqual(b.output, { doubled: 42, timedOut: "EVENT_TIMEOUT" });
      await assert.rejects(env.result("nope"), (e: unknown) => e instanceof KilnError && e.code === "RUN_NOT_FOUND");
    } finally {
      await env.close();
    }
  });

  it("runs deployed JS and Python code on the same virtual clock", async () => {
    const env = await createTestEnv();
    try {
      await env.deploy(
        "js",
        `async function workflow(i, { step, sleep }) { await sleep("nap", "2h"); return await step("s", () => i.n + 1); }`,
      );
      await env.deploy(
        "py",
        `def workflow(i, ctx):\n    ctx.sleep("nap", "2h")\n    return ctx.step("s", lambda: i["n"] * 10)\n`,
        { runtime: "python" },
      );
      const js = await env.start("js", { n: 1 });
      const py = await env.start("py", { n: 2 });
      assert.equal(js.status, "sleeping", JSON.stringify(js.error));
      assert.equal(py.status, "sleeping", JSON.stringify(py.error));
      assert.equal(js.availableAt, env.now() + 7_200_000);
      await env.advance("2h");
      assert.equal(await env.result(js.id), 2);
      assert.equal(await env.result(py.id), 20);
    } finally {
      await env.close();
    }
  });
});
