import assert from "node:assert/strict";
import { it } from "node:test";
import { forEachStore, type TestStore } from "../../tests/support/test-db.ts";
import type { StoreOptions } from "../store/store.ts";
import { Scheduler } from "./scheduler.ts";

const HOUR = 3_600_000;

forEachStore("two schedulers on one database", ({ open }) => {
  it("fire a schedule every 10 s for an hour of test-clock time with zero duplicates", async () => {
    let now = Date.parse("2026-03-01T00:00:00Z");
    const clock = () => now;
    const options: StoreOptions = { clock };
    const t: TestStore = await open(options);
    try {
      const other = await t.openSibling(options);
      await t.store.putSchedule({
        namespace: "default",
        id: "every-10s",
        target: { type: "task", name: "t" },
        cron: "*/10 * * * * *",
        timezone: "UTC",
        jitterMs: 0,
        startAt: null,
        endAt: null,
        overlap: "allow",
      });
      const a = new Scheduler({ store: t.store, clock });
      const b = new Scheduler({ store: other, clock });
      const started: number[] = [];
      const end = now + HOUR;
      while (now < end) {
        now += 3000;
        const [fa, fb] = await Promise.all([a.tick(), b.tick()]);
        for (const f of [...fa, ...fb]) if (f.outcome === "started") started.push(f.dueAt);
      }
      assert.equal(started.length, 360);
      assert.equal(new Set(started).size, 360, "no due time started twice");
      const runs = (await t.store.listRuns({ namespace: "default", limit: 1000 })).runs;
      assert.equal(runs.length, 360);
    } finally {
      await t.close();
    }
  });
});
