import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openTestPostgres, openTestSqlite, postgresSkip, type TestStore } from "../tests/support/test-db.ts";
import { Kiln } from "./kiln.ts";

/** Kiln embedded: startWorkflow + waitForRun, resolved at the run's terminal commit. */
function embedded(name: string, open: () => Promise<TestStore>, skip: string | false) {
  describe(`Kiln.waitForRun (${name})`, { skip }, () => {
    it("returns each run's result once its steps and end are committed", async () => {
      const t = await open();
      const kiln = await Kiln.open({ store: t.store, worker: { concurrency: 4 } });
      try {
        kiln.workflow("sum3", async (input, { step }) => {
          let total = 0;
          for (let i = 0; i < 3; i++) total = await step(`s${i}`, () => total + (input as number));
          return total;
        });
        await kiln.start();
        const runs = await Promise.all([1, 2, 3].map((n) => kiln.startWorkflow("sum3", n)));
        const done = await Promise.all(runs.map((r) => kiln.waitForRun(r.id)));
        assert.deepEqual(
          done.map((r) => [r.status, r.output]),
          [
            ["completed", 3],
            ["completed", 6],
            ["completed", 9],
          ],
        );
        const steps = await t.store.listSteps({ runId: runs[0]?.id as string });
        assert.deepEqual(
          steps.map((s) => s.status),
          ["completed", "completed", "completed"],
        );
      } finally {
        await kiln.close();
        await t.close();
      }
    });

    it("waits on a run that another Kiln (no worker of its own) sees end", async () => {
      const t = await open();
      const worker = await Kiln.open({ store: t.store });
      const client = await Kiln.open({ store: await t.openSibling() });
      try {
        worker.workflow("one", async (_input, { step }) => await step("a", () => "done"));
        const run = await client.startWorkflow("one");
        const waiting = client.waitForRun(run.id);
        await worker.start();
        assert.equal((await waiting).output, "done");
      } finally {
        await client.close();
        await worker.close();
        await t.close();
      }
    });
  });
}

embedded("sqlite", () => openTestSqlite(), false);
embedded("postgres", () => openTestPostgres(), postgresSkip());
