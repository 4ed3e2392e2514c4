import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import type { StoreHarness } from "./store.contract.ts";
import type { Store } from "./store.ts";

const NS = "default";

/** The workflow registry's verbs (delete, search) for every store. */
export function workflowRegistryContract(name: string, harness: StoreHarness): void {
  describe(`Workflow registry contract: ${name}`, { skip: harness.skip ?? false }, () => {
    let now = 7_000_000;
    let store: Store;

    beforeEach(async () => {
      now = 7_000_000;
      store = await harness.open({ clock: () => now });
    });
    afterEach(async () => {
      await harness.close(store);
    });

    const deploy = (wf: string, source: string, extra: { version?: string; description?: string } = {}) =>
      store.deployWorkflow({ namespace: NS, name: wf, runtime: "node", source, ...extra });
    const start = async (wf: string, version: string) =>
      (await store.startRun({ namespace: NS, type: "workflow", name: wf, version })).run;
    const names = async (search?: string) =>
      (await store.listWorkflows({ namespace: NS, ...(search === undefined ? {} : { search }) })).workflows.map(
        (w) => w.name,
      );

    it("deletes a whole workflow and then it is gone from list, versions and get", async () => {
      await deploy("etl", "v1");
      await deploy("etl", "v2");
      await deploy("other", "x");
      const result = await store.deleteWorkflow({ namespace: NS, name: "etl" });
      assert.deepEqual(result, { name: "etl", versions: ["2", "1"], cancelledRunIds: [] });
      assert.deepEqual(await names(), ["other"]);
      assert.deepEqual(await store.listWorkflowVersions({ namespace: NS, name: "etl" }), []);
      assert.equal(await store.getWorkflow({ namespace: NS, name: "etl" }), undefined);
    });

    it("deletes one version and keeps the others (the latest becomes the one before)", async () => {
      await deploy("etl", "v1");
      await deploy("etl", "v2");
      const result = await store.deleteWorkflow({ namespace: NS, name: "etl", version: "2" });
      assert.deepEqual(result.versions, ["2"]);
      const latest = await store.getWorkflow({ namespace: NS, name: "etl" });
      assert.equal(latest?.version, "1");
      assert.equal((await store.listWorkflows({ namespace: NS })).workflows[0]?.versions, 1);
      // A new deploy numbers after what is left, never reusing the deleted number's source silently.
      assert.equal((await deploy("etl", "v3")).deployment.version, "2");
    });

    it("says WORKFLOW_NOT_FOUND for an unknown workflow or version", async () => {
      await deploy("etl", "v1");
      await assert.rejects(store.deleteWorkflow({ namespace: NS, name: "nosuch" }), (e) =>
        hasCode(e, "WORKFLOW_NOT_FOUND"),
      );
      await assert.rejects(
        store.deleteWorkflow({ namespace: NS, name: "etl", version: "9" }),
        (e) => hasCode(e, "WORKFLOW_NOT_FOUND") && /no version 9/.test((e as Error).message),
      );
      await assert.rejects(store.deleteWorkflow({ namespace: "elsewhere", name: "etl" }), (e) =>
        hasCode(e, "WORKFLOW_NOT_FOUND"),
      );
    });

    it("refuses with WORKFLOW_IN_USE while runs are queued, running or parked, and changes nothing", async () => {
      await deploy("etl", "v1");
      const queued = await start("etl", "1");
      const running = await start("etl", "1");
      const claimed = await store.claimRuns({
        namespace: NS,
        queues: ["default"],
        owner: "w1",
        limit: 1,
        leaseMs: 30_000,
      });
      const claimedId = claimed.runs[0]?.run.id;
      assert.ok(claimedId === queued.id || claimedId === running.id);
      await assert.rejects(
        store.deleteWorkflow({ namespace: NS, name: "etl" }),
        (e) =>
          hasCode(e, "WORKFLOW_IN_USE") &&
          (e as { data: { runCount: number } }).data.runCount === 2 &&
          /2 run\(s\) in flight/.test((e as Error).message) &&
          /force/.test((e as Error).message),
      );
      assert.equal((await store.listWorkflowVersions({ namespace: NS, name: "etl" })).length, 1);
      assert.equal((await store.getRun({ namespace: NS, id: queued.id }))?.status === "cancelled", false);
    });

    it("counts only runs pinned to the deleted version, and finished runs never block", async () => {
      await deploy("etl", "v1");
      await deploy("etl", "v2");
      const onOne = await start("etl", "1");
      await store.cancelRun({ namespace: NS, id: (await start("etl", "2")).id });
      const result = await store.deleteWorkflow({ namespace: NS, name: "etl", version: "2" });
      assert.deepEqual(result.cancelledRunIds, []);
      await assert.rejects(store.deleteWorkflow({ namespace: NS, name: "etl", version: "1" }), (e) =>
        hasCode(e, "WORKFLOW_IN_USE"),
      );
      assert.equal((await store.getRun({ namespace: NS, id: onOne.id }))?.status, "queued");
    });

    it("with force, cancels the in-flight runs (a leased one goes cancelling) and deletes", async () => {
      await deploy("etl", "v1");
      const a = await start("etl", "1");
      const b = await start("etl", "1");
      const claimed = await store.claimRuns({
        namespace: NS,
        queues: ["default"],
        owner: "w1",
        limit: 1,
        leaseMs: 30_000,
      });
      const leasedId = claimed.runs[0]?.run.id;
      now += 5;
      const result = await store.deleteWorkflow({ namespace: NS, name: "etl", force: true });
      assert.deepEqual([...result.cancelledRunIds].sort(), [a.id, b.id].sort());
      assert.deepEqual(result.versions, ["1"]);
      for (const id of [a.id, b.id]) {
        const run = await store.getRun({ namespace: NS, id });
        assert.equal(run?.status, id === leasedId ? "cancelling" : "cancelled");
        assert.match(run?.error?.message ?? "", /Workflow "etl" was deleted/);
      }
      assert.deepEqual(await names(), []);
    });

    it("keeps a deployment's compute adapter; the same source for another adapter is a new version", async () => {
      const first = await store.deployWorkflow({
        namespace: NS,
        name: "boxed",
        runtime: "node",
        source: "s",
        adapter: "docker",
      });
      assert.equal(first.deployment.adapter, "docker");
      assert.equal((await store.getWorkflow({ namespace: NS, name: "boxed" }))?.adapter, "docker");
      assert.equal((await store.listWorkflows({ namespace: NS })).workflows[0]?.adapter, "docker");
      const same = await store.deployWorkflow({
        namespace: NS,
        name: "boxed",
        runtime: "node",
        source: "s",
        adapter: "docker",
      });
      assert.equal(same.created, false);
      const moved = await store.deployWorkflow({ namespace: NS, name: "boxed", runtime: "node", source: "s" });
      assert.equal(moved.created, true);
      assert.equal(moved.deployment.version, "2");
      assert.equal("adapter" in moved.deployment, false, "no adapter: any worker");
      await assert.rejects(
        store.deployWorkflow({
          namespace: NS,
          name: "boxed",
          runtime: "node",
          source: "t",
          adapter: "lambda" as never,
        }),
        (e) => hasCode(e, "INVALID_INPUT") && /exec, docker/.test((e as Error).message),
      );
    });

    it("searches names and descriptions, ignoring case, with LIKE characters taken literally", async () => {
      await deploy("billing-sync", "a", { description: "Copies invoices to the ledger" });
      await deploy("etl", "b", { description: "Nightly INVOICE export" });
      await deploy("etl", "c", { description: "Nightly export" });
      await deploy("odd_name", "d");
      await deploy("oddxname", "e");
      assert.deepEqual(await names("invoice"), ["billing-sync"], "only the latest version's description counts");
      assert.deepEqual(await names("ETL"), ["etl"]);
      assert.deepEqual(await names("nightly"), ["etl"]);
      assert.deepEqual(await names("_"), ["odd_name"], "an underscore is not a wildcard");
      assert.deepEqual(await names("%"), []);
      assert.deepEqual(await names(""), ["billing-sync", "etl", "odd_name", "oddxname"]);
      const page = await store.listWorkflows({ namespace: NS, search: "odd", limit: 1 });
      assert.deepEqual(
        page.workflows.map((w) => w.name),
        ["odd_name"],
      );
      const next = await store.listWorkflows({
        namespace: NS,
        search: "odd",
        limit: 1,
        ...(page.nextCursor === null ? {} : { cursor: page.nextCursor }),
      });
      assert.deepEqual(
        next.workflows.map((w) => w.name),
        ["oddxname"],
      );
      assert.equal(next.nextCursor, null);
    });

    it("notifies new deployments to listeners (on PostgreSQL, another connection's), not no-op deploys", async () => {
      const listenerStore = harness.openSibling ? await harness.openSibling(store) : store;
      const seen: { namespace: string; name: string }[] = [];
      let arrived: () => void = () => {};
      const first = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const unsubscribe = await listenerStore.subscribeDeployments((n) => {
        seen.push(n);
        arrived();
      });
      try {
        await deploy("etl", "v1");
        await Promise.race([
          first,
          new Promise((_, reject) => setTimeout(() => reject(new Error("no notification within 10 s")), 10_000)),
        ]);
        assert.deepEqual(seen, [{ namespace: NS, name: "etl" }]);
        // The same source again creates nothing: nobody needs waking.
        await deploy("etl", "v1");
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(seen.length, 1);
      } finally {
        await unsubscribe();
      }
    });
  });
}
