/**
 * Opt-in deferred step records (WorkflowRegistration.deferStepRecords): a workflow's steps are
 * written together and confirmed before its outcome or its next child/event wait — fewer store
 * calls, every step recorded before the run completes — on SQLite and PostgreSQL.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Store } from "../store/store.ts";
import { openTestPostgres, openTestSqlite, postgresSkip, type TestStore } from "../../tests/support/test-db.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import { Worker } from "./worker.ts";
import type { WorkflowContext } from "../workflow/workflow-context.ts";

/** The store's worker-side verbs, each call logged by name (no handoff: every run is claimed). */
function countingClient(store: Store, calls: string[]): EngineClient {
  return {
    claimRuns: (p) => store.claimRuns(p),
    extendLeases: (p) => store.extendLeases(p),
    saveSteps: (p) => {
      calls.push(`saveSteps:${p.steps.map((s) => s.name).join(",")}`);
      return store.saveSteps(p);
    },
    startChildRun: (p) => {
      calls.push("startChildRun");
      return store.startChildRun(p);
    },
    awaitEvent: (p) => store.awaitEvent(p),
    finishRuns: (p) => {
      calls.push(`finishRuns:${p.items.map((i) => i.outcome).join(",")}`);
      return store.finishRuns(p);
    },
    updateRuns: (p) => store.updateRuns(p),
    appendLogs: (p) => store.appendLogs(p),
    subscribe: (l) => store.subscribe(l),
  };
}

const threeSteps = async (input: unknown, { step }: WorkflowContext) => {
  const a = await step("a", () => 1);
  const b = await step("b", () => a + 1);
  const c = await step("c", () => b + 1);
  return { input, c };
};

for (const [dialect, open, skip] of [
  ["SQLite", openTestSqlite, false],
  ["PostgreSQL", openTestPostgres, postgresSkip()],
] as const) {
  describe(`deferred step records (${dialect})`, { skip }, () => {
    const opened: TestStore[] = [];
    after(async () => {
      for (const t of opened) await t.close();
    });

    async function runOne(
      defer: boolean,
      fn: (input: unknown, ctx: WorkflowContext) => Promise<unknown>,
      calls: string[],
    ) {
      const t = await open();
      opened.push(t);
      const worker = new Worker({ client: countingClient(t.store, calls), namespace: "d" });
      worker.registry.addWorkflow({ name: "w", version: null, fn, ...(defer ? { deferStepRecords: true } : {}) });
      worker.registry.addTask({ kind: "child", handler: async () => "child done", retryPolicy: null, settings: {} });
      const { run } = await t.store.startRun({ namespace: "d", type: "workflow", name: "w", input: "x" });
      while (await worker.tick()) {
        // Claims and runs until nothing is claimable (the child task, then the parent again).
      }
      const done = await t.store.getRun({ namespace: "d", id: run.id });
      const steps = await t.store.listSteps({ runId: run.id });
      return { done, steps };
    }

    it("records a run's three steps in one store call, before the finish, with the same result", async () => {
      const deferred: string[] = [];
      const plain: string[] = [];
      const a = await runOne(true, threeSteps, deferred);
      const b = await runOne(false, threeSteps, plain);
      assert.equal(a.done?.status, "completed");
      assert.deepEqual(a.done?.output, b.done?.output);
      assert.deepEqual(
        a.steps.map((s) => [s.name, s.status, s.output]),
        b.steps.map((s) => [s.name, s.status, s.output]),
      );
      assert.deepEqual(deferred, ["saveSteps:a,b,c", "finishRuns:complete"]);
      assert.deepEqual(plain, ["saveSteps:a", "saveSteps:b", "saveSteps:c", "finishRuns:complete"]);
    });

    it("confirms the deferred records before a child run starts", async () => {
      const calls: string[] = [];
      const withChild = async (_input: unknown, { step, task }: WorkflowContext) => {
        await step("a", () => 1);
        await step("b", () => 2);
        const child = await task("child");
        return child;
      };
      const { done } = await runOne(true, withChild, calls);
      assert.equal(done?.status, "completed");
      assert.deepEqual(done?.output, "child done");
      assert.ok(calls.indexOf("saveSteps:a,b") >= 0, calls.join(" "));
      assert.ok(calls.indexOf("saveSteps:a,b") < calls.indexOf("startChildRun"), calls.join(" "));
    });

    it("a step that throws after deferred ones: the run fails with every earlier step recorded", async () => {
      const calls: string[] = [];
      const failing = async (_input: unknown, { step }: WorkflowContext) => {
        await step("a", () => 1);
        await step(
          "b",
          () => {
            throw new Error("boom");
          },
          { retry: { maxAttempts: 1 } },
        );
        return "never";
      };
      const { done, steps } = await runOne(true, failing, calls);
      assert.equal(done?.status, "failed");
      assert.deepEqual(
        steps.map((s) => [s.name, s.status]),
        [
          ["a", "completed"],
          ["b", "failed"],
        ],
      );
    });
  });
}
