import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { type TestStore, forEachStore } from "../../tests/support/test-db.ts";
import { Housekeeper } from "../server/housekeeper.ts";

const DAY = 86_400_000;

forEachStore("retention of finished runs", ({ open }) => {
  let db: TestStore;
  let now = 100 * DAY;
  before(async () => {
    const options = { clock: () => now };
    db = await open(options);
    await db.store.createNamespace({ name: "ci" });
  });
  after(async () => {
    await db?.close();
  });

  /** Starts a run (optionally a child) and, when `finish`, completes it at the current time. */
  async function run(namespace: string, finish: boolean, parent?: { id: string; rootRunId: string }) {
    const { run } = await db.store.startRun({
      namespace,
      type: "task",
      name: "job",
      queue: `q-${namespace}`,
      ...(parent ? { parentRunId: parent.id, parentStepName: "child", rootRunId: parent.rootRunId } : {}),
    });
    if (finish) {
      const { runs } = await db.store.claimRuns({
        namespace,
        queues: [`q-${namespace}`],
        owner: "w",
        limit: 10,
        leaseMs: 60_000,
      });
      const mine = runs.find((c) => c.run.id === run.id);
      assert.ok(mine);
      await db.store.appendLogs({ entries: [{ runId: run.id, attempt: 1, level: "info", message: "hello" }] });
      await db.store.finishRuns({
        items: [{ runId: run.id, leaseToken: mine.run.leaseToken, outcome: "complete", output: 1 }],
      });
    }
    return run;
  }

  it("deletes old finished run trees with their logs, keeps recent ones, active trees and other namespaces' per their own retention", async () => {
    now = 10 * DAY;
    const oldRoot = await run("default", true);
    const oldChild = await run("default", true, { id: oldRoot.id, rootRunId: oldRoot.rootRunId });
    const activeRoot = await run("default", true);
    await run("default", false, { id: activeRoot.id, rootRunId: activeRoot.rootRunId });
    const oldCi = await run("ci", true);
    now = 40 * DAY;
    const recent = await run("default", true);
    const recentCi = await run("ci", true);
    now = 45 * DAY;
    // default: 30 days (old trees go); ci: 2 days (both of its runs go).
    const keeper = new Housekeeper({
      store: db.store,
      runRetentionMs: 30 * DAY,
      namespaceRetentionMs: { ci: 2 * DAY },
      clock: () => now,
    });
    const result = await keeper.tick();
    assert.equal(result.runsDeleted, 4);
    const exists = async (namespace: string, id: string) => (await db.store.getRun({ namespace, id })) !== undefined;
    assert.equal(await exists("default", oldRoot.id), false);
    assert.equal(await exists("default", oldChild.id), false);
    assert.equal(await db.store.listLogs({ runId: oldRoot.id }).then((l) => l.length), 0);
    assert.equal(await exists("default", activeRoot.id), true, "a tree with an active child is kept");
    assert.equal(await exists("default", recent.id), true);
    assert.equal(await exists("ci", oldCi.id), false);
    assert.equal(await exists("ci", recentCi.id), false);
    assert.equal(await db.store.listLogs({ runId: recent.id }).then((l) => l.length), 1);
  });
});
