import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { SqliteStore } from "./sqlite-store.ts";

describe("migration 9 (deployment compute adapter) on an existing SQLite database", () => {
  it("adds the column to a database deployed before it, keeping its deployments", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-migration-9-"));
    try {
      const path = join(dir, "kiln.db");
      const first = await SqliteStore.open(path);
      await first.deployWorkflow({ namespace: "default", name: "old", runtime: "node", source: "a" });
      await first.close();
      // Turn the file back into a database from before migration 9.
      const raw = new Database(path);
      raw.exec("ALTER TABLE workflow_deployments DROP COLUMN adapter; DELETE FROM schema_migrations WHERE version = 9");
      raw.close();

      const upgraded = await SqliteStore.open(path);
      try {
        const old = await upgraded.getWorkflow({ namespace: "default", name: "old" });
        assert.equal(old?.source, "a");
        assert.equal(old !== undefined && "adapter" in old, false, "deployed before: any adapter");
        const boxed = await upgraded.deployWorkflow({
          namespace: "default",
          name: "old",
          runtime: "node",
          source: "a",
          adapter: "docker",
        });
        assert.deepEqual([boxed.created, boxed.deployment.version, boxed.deployment.adapter], [true, "2", "docker"]);
      } finally {
        await upgraded.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
