import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { openTestPostgres, postgresSkip } from "../../tests/support/test-db.ts";
import { PostgresStore } from "./postgres/postgres-store.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

const UNDO_6 = ["DROP TABLE schedule_fires", "DROP TABLE schedules", "DELETE FROM schema_migrations WHERE version = 6"];

/** A database at the schema before migration 6 with a run in it gets migration 6 and keeps the run. */
async function checkUpgrade(store: Store, runId: string): Promise<void> {
  assert.equal((await store.getRun({ namespace: "default", id: runId }))?.name, "before-6");
  const { schedule } = await store.putSchedule({
    namespace: "default",
    id: "after-6",
    target: { type: "task", name: "t" },
    cron: "@hourly",
    timezone: "UTC",
    jitterMs: 0,
    startAt: null,
    endAt: null,
  });
  assert.equal(schedule.id, "after-6");
}

describe("migration 6 (schedules) upgrades an existing database", () => {
  it("on SQLite", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-m6-"));
    const file = join(dir, "kiln.db");
    try {
      const first = await SqliteStore.open(file);
      const { run } = await first.startRun({ namespace: "default", type: "task", name: "before-6" });
      await first.close();
      const db = new Database(file);
      for (const sql of UNDO_6) db.exec(sql);
      db.close();
      const upgraded = await SqliteStore.open(file);
      try {
        await checkUpgrade(upgraded, run.id);
      } finally {
        await upgraded.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on PostgreSQL", { skip: postgresSkip() }, async () => {
    const t = await openTestPostgres();
    try {
      const { run } = await t.store.startRun({ namespace: "default", type: "task", name: "before-6" });
      const url = process.env.KILN_TEST_DATABASE_URL as string;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`SET search_path TO "${t.schema}"`);
      for (const sql of UNDO_6) await client.query(sql);
      await client.end();
      const upgraded = await PostgresStore.open({ connectionString: url, schema: t.schema as string });
      try {
        await checkUpgrade(upgraded, run.id);
      } finally {
        await upgraded.close();
      }
    } finally {
      await t.close();
    }
  });
});
