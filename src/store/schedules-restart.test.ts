import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openTestPostgres, postgresSkip } from "../../tests/support/test-db.ts";
import { PostgresStore } from "./postgres/postgres-store.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store, StoreOptions } from "./store.ts";

const MINUTE = 60_000;

/**
 * A server restart neither loses nor repeats a fire: the next due time is stored, so a new
 * process (a new store on the same data) continues from it.
 */
async function restartScenario(open: (options: StoreOptions) => Promise<Store>): Promise<void> {
  let now = Date.parse("2026-01-05T00:00:00Z");
  const clock = () => now;
  const first = await open({ clock });
  await first.putSchedule({
    namespace: "default",
    id: "r",
    target: { type: "task", name: "t" },
    cron: "*/10 * * * *",
    timezone: "UTC",
    jitterMs: 0,
    startAt: null,
    endAt: null,
    overlap: "allow",
    catchUp: "all",
  });
  now += 10 * MINUTE;
  const before = await first.fireDueSchedules({});
  assert.deepEqual(
    before.map((f) => f.outcome),
    ["started"],
  );
  await first.close(); // the server stops

  now += 35 * MINUTE; // down for 35 minutes: 00:20, 00:30 and 00:40 were due
  const second = await open({ clock });
  try {
    const after = await second.fireDueSchedules({});
    assert.deepEqual(
      after.map((f) => new Date(f.dueAt).toISOString()),
      ["2026-01-05T00:20:00.000Z", "2026-01-05T00:30:00.000Z", "2026-01-05T00:40:00.000Z"],
      "00:10 is not repeated and no later fire is lost",
    );
    assert.deepEqual(await second.fireDueSchedules({}), []);
    const runs = (await second.listRuns({ namespace: "default" })).runs;
    assert.equal(runs.length, 4);
    assert.equal(new Set(runs.map((r) => r.idempotencyKey)).size, 4);
  } finally {
    await second.close();
  }
}

describe("schedules across a server restart", () => {
  it("on SQLite (a file reopened)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-restart-"));
    try {
      await restartScenario((options) => SqliteStore.open(join(dir, "kiln.db"), options));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on PostgreSQL (the schema reopened)", { skip: postgresSkip() }, async () => {
    const t = await openTestPostgres();
    try {
      const url = process.env.KILN_TEST_DATABASE_URL as string;
      await restartScenario((options) =>
        PostgresStore.open({ connectionString: url, schema: t.schema as string }, options),
      );
    } finally {
      await t.close();
    }
  });
});
