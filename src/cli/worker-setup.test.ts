import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hideContainerEngines } from "../../tests/support/no-container-engine.ts";
import { openTestSqlite } from "../../tests/support/test-db.ts";
import { parseConfig } from "../config/load-config.ts";
import { storeWorkflowSource } from "../runtimes/deployed-workflows.ts";
import { createSecretResolver } from "../secrets/secret-resolver.ts";
import { createConfiguredWorker } from "./worker-setup.ts";

describe("createConfiguredWorker", () => {
  test("heartbeat_interval_seconds is honoured: the lease lasts three intervals (it was capped at 10 s)", async () => {
    const db = await openTestSqlite();
    const config = parseConfig(
      "worker: { heartbeat_interval_seconds: 30 }\ntasks:\n  - { kind: nap, command: sleep, args: ['2'] }\n",
      { env: {} },
    );
    const setup = await createConfiguredWorker({
      client: db.store,
      namespace: "default",
      config,
      deployments: storeWorkflowSource(db.store),
      secrets: createSecretResolver(),
    });
    try {
      const { run } = await db.store.startRun({ namespace: "default", type: "task", name: "nap" });
      const done = setup.worker.tick();
      let leaseMs: number | undefined;
      while (leaseMs === undefined) {
        const current = await db.store.getRun({ namespace: "default", id: run.id });
        if (current?.leaseExpiresAt != null) leaseMs = current.leaseExpiresAt - Date.now();
        else await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(leaseMs > 60_000, `the lease lasts ${leaseMs} ms; with a 30 s heartbeat it must outlive two of them`);
      await done;
    } finally {
      await setup.close();
      await db.close();
    }
  });

  test("a reload whose sandbox this machine cannot honour is refused whole: the kinds loaded before stay", async () => {
    const db = await openTestSqlite();
    const config = parseConfig("tasks:\n  - { kind: old, command: echo }\n", { env: {} });
    const setup = await createConfiguredWorker({
      client: db.store,
      namespace: "default",
      config,
      deployments: storeWorkflowSource(db.store),
      secrets: createSecretResolver(),
    });
    try {
      // With no container engine found, the docker profile is refused on every machine.
      hideContainerEngines();
      const refused = parseConfig("tasks:\n  - { kind: new, command: echo, sandbox: { profile: docker } }\n", {
        env: {},
      });
      assert.throws(() => setup.reload(refused), { code: "SANDBOX_UNAVAILABLE" });
      assert.deepEqual(
        setup.worker.registry.tasks().map((t) => t.kind),
        ["old"],
      );
    } finally {
      await setup.close();
      await db.close();
    }
  });
});
