import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openTestApp } from "../../tests/support/test-app.ts";
import { Worker } from "../worker/worker.ts";
import { localEngineClient, registerLocalWorker } from "./local-engine-client.ts";

describe("an in-process worker beside the server (kiln dev)", () => {
  it("feeds the server's metrics and shows up in /v1/workers and /v1/tasks", async () => {
    const t = await openTestApp("sqlite");
    try {
      const worker = new Worker({ client: localEngineClient(t.store, t.kiln), name: "dev-worker" });
      worker.registry.addTask({
        kind: "hello",
        handler: async () => "hi",
        retryPolicy: null,
        settings: { command: "echo" },
      });
      const unregister = await registerLocalWorker(t.store, {
        namespace: "default",
        name: worker.name,
        version: "0.1.0",
        queues: ["default"],
        kinds: worker.registry.tasks().map((k) => ({ kind: k.kind, settings: k.settings })),
      });
      const { run } = await t.store.startRun({ namespace: "default", type: "task", name: "hello" });
      await worker.drain();
      assert.equal((await t.store.getRun({ namespace: "default", id: run.id }))?.output, "hi");
      const metrics = await (await t.request("/metrics")).text();
      assert.match(metrics, /kiln_claimed_runs_total\{namespace="default"\} 1/);
      const workers = (await t.json<{ items: { name: string }[] }>("/v1/workers")).body;
      assert.deepEqual(
        workers.items.map((w) => w.name),
        ["dev-worker"],
      );
      const tasks = (await t.json<{ items: { kind: string; settings: unknown }[] }>("/v1/tasks")).body;
      assert.deepEqual(tasks.items[0]?.settings, { command: "echo" });
      await unregister();
      assert.deepEqual((await t.json<{ items: unknown[] }>("/v1/workers")).body.items, []);
    } finally {
      await t.close();
    }
  });
});
