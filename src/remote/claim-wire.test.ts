import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openTestSqlite } from "../../tests/support/test-db.ts";
import { compactClaimed, expandClaimed } from "./claim-wire.ts";

describe("compact claimed runs (worker protocol)", () => {
  it("restores exactly what the store claimed, fresh runs and runs with every field set", async () => {
    const db = await openTestSqlite();
    try {
      await db.store.createNamespace({ name: "wire" });
      await db.store.startRun({ namespace: "wire", type: "task", name: "plain" });
      await db.store.startRun({
        namespace: "wire",
        type: "workflow",
        name: "full",
        input: { a: [1, null, "x"] },
        queue: "default",
        priority: 5,
        concurrencyKey: "k",
        idempotencyKey: "once",
        timeoutMs: 60_000,
        metadata: { team: "ops" },
        version: "v2",
      });
      const { runs } = await db.store.claimRuns({
        namespace: "wire",
        queues: ["default"],
        owner: "w1",
        limit: 10,
        leaseMs: 30_000,
      });
      assert.equal(runs.length, 2);
      const compact = compactClaimed(runs, "wire", "w1");
      const plain = compact.find((c) => c.run.name === "plain");
      assert.equal(plain?.run.namespace, undefined, "the request's namespace is left out");
      assert.equal(plain?.run.input, undefined, "null fields are left out");
      assert.equal(plain?.steps, undefined, "no steps are left out");
      const wire = JSON.parse(JSON.stringify(compact));
      assert.deepEqual(expandClaimed(wire, "wire", "w1"), runs);
      // Another owner or namespace than the run's: kept on the wire.
      assert.deepEqual(expandClaimed(JSON.parse(JSON.stringify(compactClaimed(runs, "x", "y"))), "x", "y"), runs);
    } finally {
      await db.close();
    }
  });
});
