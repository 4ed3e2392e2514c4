import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { sqliteContractStores } from "../../../tests/support/test-db.ts";
import { webhooksContract } from "../webhooks.contract.ts";
import { SqliteStore } from "./sqlite-store.ts";

webhooksContract("sqlite", sqliteContractStores());

describe("migration 7 (webhooks)", () => {
  it("upgrades a database made before it, keeping its runs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-hooks-"));
    try {
      const path = join(dir, "kiln.db");
      const first = await SqliteStore.open(path);
      const { run } = await first.startRun({ namespace: "ns", type: "workflow", name: "wf" });
      await first.close();
      // Take the database back to before migration 7, as an older Kiln left it.
      const db = new Database(path);
      for (const t of ["webhook_attempts", "webhook_deliveries", "webhook_subscriptions", "webhook_endpoints"]) {
        db.exec(`DROP TABLE ${t}`);
      }
      db.exec("DELETE FROM schema_migrations WHERE version = 7");
      db.close();
      const upgraded = await SqliteStore.open(path);
      assert.equal((await upgraded.getRun({ namespace: "ns", id: run.id }))?.id, run.id);
      assert.deepEqual(await upgraded.webhooks.listWebhookSubscriptions({ namespace: "ns" }), []);
      await upgraded.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
