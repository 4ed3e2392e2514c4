import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import type { OverlapPolicy } from "../engine/schedule-spec.ts";
import type { PutScheduleParams } from "./schedule-store.ts";
import type { StoreHarness } from "./store.contract.ts";
import type { Store } from "./store.ts";

const NS = "default";
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** A schedule declaration with defaults, for the tests. */
function decl(p: Partial<PutScheduleParams> & { id: string; cron: string }): PutScheduleParams {
  return {
    namespace: NS,
    target: { type: "task", name: "report" },
    timezone: "UTC",
    jitterMs: 0,
    startAt: null,
    endAt: null,
    // Nothing runs the started runs here: "skip" (the default) would skip every later fire.
    overlap: "allow",
    ...p,
  };
}

/** The schedule contract (timing, DST, overlap, catch-up, many schedulers) for every store. */
export function schedulesContract(name: string, harness: StoreHarness): void {
  describe(`Schedule store contract: ${name}`, { skip: harness.skip ?? false }, () => {
    let now = 0;
    let store: Store;
    const clock = () => now;

    beforeEach(async () => {
      now = Date.parse("2026-01-05T00:00:00Z");
      store = await harness.open({ clock });
    });
    afterEach(async () => {
      await harness.close(store);
    });

    /** Ticks the scheduler every `stepMs` until `until`; returns the due times of started fires. */
    async function tickUntil(until: number, stepMs: number, stores: readonly Store[] = [store]): Promise<number[]> {
      const started: number[] = [];
      while (now < until) {
        now = Math.min(until, now + stepMs);
        const results = await Promise.all(stores.map((s) => s.fireDueSchedules({})));
        for (const fire of results.flat()) if (fire.outcome === "started") started.push(fire.dueAt);
      }
      return started.sort((a, b) => a - b);
    }

    const iso = (times: readonly number[]) => times.map((t) => new Date(t).toISOString());

    describe("DST", () => {
      const cases = [
        {
          zone: "America/New_York",
          spring: "2026-03-07T12:00:00Z",
          // 02:30 does not exist on March 8: it runs once, at 03:00 EDT (07:00Z).
          springRuns: ["2026-03-07T07:30:00.000Z", "2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"],
          fall: "2026-10-31T00:00:00Z",
          // 01:30 happens twice on November 1: it runs once, at the first (EDT).
          fallCron: "30 1 * * *",
          fallRuns: ["2026-10-31T05:30:00.000Z", "2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z"],
        },
        {
          zone: "Europe/Berlin",
          spring: "2026-03-28T00:00:00Z",
          springRuns: ["2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"],
          fall: "2026-10-24T00:00:00Z",
          fallCron: "30 2 * * *",
          fallRuns: ["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"],
        },
      ];
      for (const c of cases) {
        it(`${c.zone}: the skipped hour runs once, the repeated hour runs once`, async () => {
          now = Date.parse(c.spring) - 12 * HOUR;
          await store.putSchedule(decl({ id: "spring", cron: "30 2 * * *", timezone: c.zone }));
          const spring = await tickUntil(now + 3 * 24 * HOUR, 10 * MINUTE);
          assert.deepEqual(iso(spring), c.springRuns);

          now = Date.parse(c.fall);
          await store.putSchedule(decl({ id: "fall", cron: c.fallCron, timezone: c.zone }));
          await store.deleteSchedule({ namespace: NS, id: "spring" });
          const fall = await tickUntil(now + 3 * 24 * HOUR, 10 * MINUTE);
          assert.deepEqual(iso(fall), c.fallRuns);
        });
      }

      it("an hourly schedule runs every real hour through the repeated hour", async () => {
        now = Date.parse("2026-11-01T04:00:00Z"); // 00:00 EDT
        await store.putSchedule(decl({ id: "hourly", cron: "@hourly", timezone: "America/New_York" }));
        const runs = await tickUntil(Date.parse("2026-11-01T08:00:00Z"), 5 * MINUTE);
        assert.deepEqual(iso(runs), [
          "2026-11-01T05:00:00.000Z", // 01:00 EDT
          "2026-11-01T06:00:00.000Z", // 01:00 EST
          "2026-11-01T07:00:00.000Z",
          "2026-11-01T08:00:00.000Z",
        ]);
      });
    });

    describe("fires", () => {
      it("starts a run per due time with a deterministic key, the due time in its input and jitter", async () => {
        now = Date.parse("2026-01-05T00:00:00Z");
        await store.putSchedule(
          decl({
            id: "nightly",
            cron: "0 * * * *",
            jitterMs: 30_000,
            // biome-ignore lint/suspicious/noTemplateCurlyInString: Kiln's own ${schedule.…} placeholders
            input: { at: "${schedule.time}", ts: "${schedule.timestamp}", label: "run of ${schedule.date}" },
            runOptions: { queue: "reports", priority: 3 },
          }),
        );
        now += HOUR;
        const [fire] = await store.fireDueSchedules({});
        assert.equal(fire?.outcome, "started");
        const run = await store.getRun({ namespace: NS, id: fire?.runId ?? "" });
        assert.equal(run?.idempotencyKey, "schedule:nightly:2026-01-05T01:00:00.000Z");
        assert.deepEqual(run?.input, { at: "2026-01-05T01:00:00.000Z", ts: now, label: "run of 2026-01-05" });
        assert.equal(run?.queue, "reports");
        assert.equal(run?.priority, 3);
        assert.deepEqual(run?.metadata, { schedule: "nightly", scheduledAt: "2026-01-05T01:00:00.000Z" });
        assert.ok(
          run !== undefined && run.availableAt !== null && run.availableAt >= now && run.availableAt <= now + 30_000,
        );
        assert.deepEqual(await store.fireDueSchedules({}), []);
        const s = await store.getSchedule({ namespace: NS, id: "nightly" });
        assert.equal(s?.nextDueAt, now + HOUR);
        assert.equal(s?.lastRunId, run?.id);
        const fires = await store.listScheduleFires({ namespace: NS, id: "nightly" });
        assert.deepEqual(
          fires.map((f) => [f.outcome, f.runId]),
          [["started", run?.id]],
        );
      });

      it("@every counts from the start date; start and end dates bound the fires", async () => {
        const start = now + 10 * MINUTE;
        await store.putSchedule(decl({ id: "every", cron: "@every 90s", startAt: start, endAt: start + 5 * MINUTE }));
        const runs = await tickUntil(now + HOUR, 30_000);
        assert.deepEqual(
          runs.map((t) => (t - start) / 1000),
          [0, 90, 180, 270],
        );
        assert.equal((await store.getSchedule({ namespace: NS, id: "every" }))?.nextDueAt, null);
      });

      it("re-putting an unchanged schedule keeps its cursor; a new cron recomputes it", async () => {
        await store.putSchedule(decl({ id: "s", cron: "*/10 * * * *" }));
        now += 25 * MINUTE; // two fires due, not yet handled
        const again = await store.putSchedule(decl({ id: "s", cron: "*/10 * * * *", source: "config" }));
        assert.equal(again.created, false);
        assert.equal(again.schedule.nextDueAt, Date.parse("2026-01-05T00:10:00Z"));
        const changed = await store.putSchedule(decl({ id: "s", cron: "*/30 * * * *" }));
        assert.equal(changed.schedule.nextDueAt, Date.parse("2026-01-05T00:30:00Z"));
      });

      it("pause with a note stops fires; resume starts from now; trigger and backfill start runs", async () => {
        await store.putSchedule(decl({ id: "p", cron: "*/10 * * * *", overlap: "allow", jitterMs: HOUR }));
        const paused = await store.setSchedulePaused({ namespace: NS, id: "p", paused: true, note: "db migration" });
        assert.equal(paused.paused, true);
        assert.equal(paused.note, "db migration");
        assert.deepEqual(await tickUntil(now + HOUR, MINUTE), []);
        const resumed = await store.setSchedulePaused({ namespace: NS, id: "p", paused: false });
        assert.equal(resumed.nextDueAt, Date.parse("2026-01-05T01:10:00Z"));

        const trigger = await store.triggerSchedule({ namespace: NS, id: "p" });
        assert.equal(trigger.outcome, "started");
        const triggered = await store.getRun({ namespace: NS, id: trigger.runId ?? "" });
        assert.equal(triggered?.availableAt, now, "a manual trigger starts now, without jitter");

        const from = Date.parse("2026-01-04T00:00:00Z");
        const backfill = await store.backfillSchedule({ namespace: NS, id: "p", from, to: from + HOUR });
        assert.equal(backfill.length, 7);
        const again = await store.backfillSchedule({ namespace: NS, id: "p", from, to: from + HOUR });
        assert.deepEqual(
          again.map((f) => f.runId),
          backfill.map((f) => f.runId),
          "a backfill repeated starts no run twice",
        );
        await assert.rejects(store.triggerSchedule({ namespace: NS, id: "nope" }), (e) =>
          hasCode(e, "SCHEDULE_NOT_FOUND"),
        );
        assert.equal(await store.deleteSchedule({ namespace: NS, id: "p" }), true);
        assert.equal(await store.getSchedule({ namespace: NS, id: "p" }), undefined);
      });

      it("refuses a bad cron, zone or policy with a message that says what to fix", async () => {
        await assert.rejects(store.putSchedule(decl({ id: "x", cron: "61 * * * *" })), /Expected "cron"/);
        await assert.rejects(store.putSchedule(decl({ id: "x", cron: "* * *" })), /5 fields/);
        await assert.rejects(store.putSchedule(decl({ id: "x", cron: "@hourly", timezone: "Mars/Base" })), /IANA/);
        await assert.rejects(
          store.putSchedule(decl({ id: "x", cron: "@hourly", overlap: "never" as OverlapPolicy })),
          /"overlap"/,
        );
      });
    });

    describe("overlap", () => {
      /** Fires twice a minute apart while the first run stays queued; returns both fires and the first run. */
      async function overlapping(policy: OverlapPolicy) {
        await store.putSchedule(decl({ id: "o", cron: "* * * * *", overlap: policy }));
        now += MINUTE;
        const [first] = await store.fireDueSchedules({});
        assert.equal(first?.outcome, "started");
        now += MINUTE;
        const second = await store.fireDueSchedules({});
        const firstRun = await store.getRun({ namespace: NS, id: first?.runId ?? "" });
        return { first, second, firstRun };
      }

      it("skip: a fire while the last run is live is skipped", async () => {
        const { second, firstRun } = await overlapping("skip");
        assert.deepEqual(
          second.map((f) => f.outcome),
          ["skipped"],
        );
        assert.equal(firstRun?.status, "queued");
      });

      it("allow: both runs start", async () => {
        const { second } = await overlapping("allow");
        assert.deepEqual(
          second.map((f) => f.outcome),
          ["started"],
        );
      });

      it("buffer_one: one fire waits for the live run and starts when it ends; more are dropped", async () => {
        const { first, second } = await overlapping("buffer_one");
        assert.deepEqual(
          second.map((f) => f.outcome),
          ["buffered"],
        );
        now += MINUTE;
        assert.deepEqual(
          (await store.fireDueSchedules({})).map((f) => f.outcome),
          ["skipped"],
        );
        await store.cancelRun({ namespace: NS, id: first?.runId ?? "" });
        now += 1000;
        const after = await store.fireDueSchedules({});
        assert.deepEqual(
          after.map((f) => [f.outcome, new Date(f.dueAt).toISOString()]),
          [["started", "2026-01-05T00:02:00.000Z"]],
        );
      });

      it("cancel_other: the live run is cancelled and the new one starts", async () => {
        const { second, firstRun } = await overlapping("cancel_other");
        assert.equal(firstRun?.status, "cancelled");
        assert.deepEqual(
          second.map((f) => f.outcome),
          ["started"],
        );
      });

      it("cancel_other: a leased run is asked to cancel and the new fire waits for it to end", async () => {
        await store.putSchedule(decl({ id: "o", cron: "* * * * *", overlap: "cancel_other" }));
        now += MINUTE;
        await store.fireDueSchedules({});
        const claimed = await store.claimRuns({
          namespace: NS,
          queues: ["default"],
          owner: "w1",
          limit: 1,
          leaseMs: HOUR,
        });
        const lease = claimed.runs[0]?.run;
        assert.ok(lease);
        now += MINUTE;
        assert.deepEqual(
          (await store.fireDueSchedules({})).map((f) => f.outcome),
          ["buffered"],
        );
        assert.equal((await store.getRun({ namespace: NS, id: lease.id }))?.status, "cancelling");
        await store.finishRuns({
          items: [{ runId: lease.id, leaseToken: lease.leaseToken, outcome: "cancelled" }],
        });
        now += 1000;
        assert.deepEqual(
          (await store.fireDueSchedules({})).map((f) => f.outcome),
          ["started"],
        );
      });

      it("terminate_other: a leased run is cancelled and the new one starts at once", async () => {
        await store.putSchedule(decl({ id: "o", cron: "* * * * *", overlap: "terminate_other" }));
        now += MINUTE;
        await store.fireDueSchedules({});
        const claimed = await store.claimRuns({
          namespace: NS,
          queues: ["default"],
          owner: "w1",
          limit: 1,
          leaseMs: HOUR,
        });
        const leased = claimed.runs[0]?.run;
        assert.ok(leased);
        now += MINUTE;
        assert.deepEqual(
          (await store.fireDueSchedules({})).map((f) => f.outcome),
          ["started"],
        );
        assert.equal((await store.getRun({ namespace: NS, id: leased.id }))?.status, "cancelling");
      });
    });

    describe("catch-up after a 3-hour outage", () => {
      for (const [policy, expected] of [
        ["none", 0],
        ["latest", 1],
        ["all", 18],
      ] as const) {
        it(`${policy}: starts ${expected} of the 18 missed fires, then continues on time`, async () => {
          await store.putSchedule(decl({ id: "c", cron: "*/10 * * * *", catchUp: policy, overlap: "allow" }));
          now += 3 * HOUR + 5 * MINUTE; // the scheduler was down
          const fires = await store.fireDueSchedules({});
          const started = fires.filter((f) => f.outcome === "started");
          assert.equal(started.length, expected);
          if (policy === "latest") assert.equal(started[0]?.dueAt, Date.parse("2026-01-05T03:00:00Z"));
          if (policy !== "all") assert.ok(fires.some((f) => f.outcome === "missed"));
          const later = await tickUntil(now + 20 * MINUTE, MINUTE);
          assert.deepEqual(iso(later), ["2026-01-05T03:10:00.000Z", "2026-01-05T03:20:00.000Z"]);
        });
      }
    });

    it("two schedulers on one database fire a schedule for an hour with zero duplicates", async () => {
      const sibling = harness.openSibling ? await harness.openSibling(store) : store;
      await store.putSchedule(decl({ id: "twice", cron: "*/5 * * * * *", overlap: "allow" }));
      const started = await tickUntil(now + HOUR, 2000, [store, sibling]);
      assert.equal(started.length, 720);
      assert.equal(new Set(started).size, 720, "no due time started twice");
      const page = await store.listRuns({ namespace: NS, limit: 1000 });
      assert.equal(page.runs.length, 720);
      assert.equal(new Set(page.runs.map((r) => r.idempotencyKey)).size, 720);
    });
  });
}
