import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KilnError } from "../errors.ts";
import { FlowWorkflowResolver } from "../flow/run/flow-resolver.ts";
import type { FlowRuntime } from "../flow/run/flow-runtime.ts";
import { DeployedNames } from "./deployed-names.ts";
import { DeployedWorkflowResolver, type DeployedWorkflowSource, InMemoryWorkflowSource } from "./deployed-workflows.ts";
import { HostPool } from "./host-pool.ts";
import { HostRunner } from "./host-runner.ts";

/** An in-memory source that counts the name lists read from it, and can be made to fail. */
function countingSource(): {
  source: InMemoryWorkflowSource;
  wrapped: DeployedWorkflowSource;
  reads: () => number;
  fail: (on: boolean) => void;
} {
  const source = new InMemoryWorkflowSource();
  let reads = 0;
  let failing = false;
  const wrapped: DeployedWorkflowSource = {
    listDeployed: async (p) => {
      reads++;
      if (failing) throw new KilnError("SERVER_UNAVAILABLE", "The server cannot be reached");
      return await source.listDeployed(p);
    },
    getWorkflow: (p) => source.getWorkflow(p),
  };
  return { source, wrapped, reads: () => reads, fail: (on) => (failing = on) };
}

// Flows are never compiled here: only their names are listed.
const NO_COMPILE: FlowRuntime = {
  runtime: "flow",
  extensions: [".yaml"],
  compile: () => assert.fail("not compiled in this test"),
  validate: () => [],
};

describe("DeployedNames", () => {
  it("reads a namespace's names once per cache period, and again after invalidate()", async () => {
    const { source, wrapped, reads } = countingSource();
    await source.deploy({ namespace: "a", name: "order", runtime: "node", source: "export default async () => 1" });
    const names = new DeployedNames(wrapped, 60_000);
    assert.deepEqual(
      (await names.list({ namespace: "a" })).map((w) => w.name),
      ["order"],
    );
    await names.list({ namespace: "a" });
    assert.equal(reads(), 1);
    await names.list({ namespace: "b" });
    assert.equal(reads(), 2, "each namespace is read on its own");
    await source.deploy({ namespace: "a", name: "refund", runtime: "python", source: "def workflow(i, ctx): pass" });
    names.invalidate();
    assert.deepEqual((await names.list({ namespace: "a" })).map((w) => w.name).sort(), ["order", "refund"]);
    assert.equal(reads(), 3);
  });

  it("does not cache a failed read", async () => {
    const { wrapped, reads, fail } = countingSource();
    const names = new DeployedNames(wrapped, 60_000);
    fail(true);
    await assert.rejects(names.list({ namespace: "a" }), { code: "SERVER_UNAVAILABLE" });
    fail(false);
    assert.deepEqual(await names.list({ namespace: "a" }), []);
    assert.equal(reads(), 2);
  });

  it("is one cache for the host and flow resolvers of a worker: one read serves both", async () => {
    const { source, wrapped, reads } = countingSource();
    await source.deploy({ namespace: "a", name: "order", runtime: "node", source: "export default async () => 1" });
    await source.deploy({ namespace: "a", name: "nightly", runtime: "flow", source: "nodes: []" });
    const names = new DeployedNames(wrapped, 60_000);
    const pool = new HostPool({ size: 1 });
    try {
      const hosts = new DeployedWorkflowResolver({ source: wrapped, names, runner: new HostRunner(pool) });
      const flows = new FlowWorkflowResolver({ source: wrapped, names, runtime: NO_COMPILE });
      assert.deepEqual(await hosts.listNames({ namespace: "a" }), ["order"]);
      assert.deepEqual(await flows.listNames({ namespace: "a" }), ["nightly"]);
      assert.equal(reads(), 1);
      // A deploy seen by one resolver's invalidate() is seen by the other.
      await source.deploy({ namespace: "a", name: "weekly", runtime: "flow", source: "nodes: []" });
      hosts.invalidate();
      assert.deepEqual([...(await flows.listNames({ namespace: "a" }))].sort(), ["nightly", "weekly"]);
      assert.equal(reads(), 2);
    } finally {
      await pool.close();
    }
  });
});
