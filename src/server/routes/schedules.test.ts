// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${schedule.date} placeholders appear in plain strings on purpose.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { openTestApp, type TestApp } from "../../../tests/support/test-app.ts";
import { forEachStore } from "../../../tests/support/test-db.ts";
import { Scheduler } from "../scheduler.ts";

type Json = Record<string, unknown> & {
  items?: Record<string, unknown>[];
  error?: { code: string; message: string };
};

const T0 = Date.parse("2026-06-01T00:00:00Z");

forEachStore("schedules API", ({ dialect }) => {
  let t: TestApp;
  let now = T0;
  const clock = () => now;
  before(async () => {
    t = await openTestApp(dialect, { clock, storeOptions: { clock } });
  });
  after(async () => {
    await t?.close();
  });
  const ns = { namespace: "team" };

  it("creates a schedule, shows its next 5 fire times, and refuses viewers and bad crons", async () => {
    const body = {
      id: "reports",
      task: "report",
      cron: "0 9 * * 1-5",
      timezone: "America/New_York",
      input: { day: "${schedule.date}" },
      overlap: "buffer_one",
      catchUp: "latest",
      jitter: "30s",
    };
    const created = await t.json<Json>("/v1/schedules", { ...ns, token: t.tokens.developer, json: body });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.jitterMs, 30_000);
    assert.equal(created.body.source, "api");
    const replaced = await t.json<Json>("/v1/schedules", { ...ns, token: t.tokens.developer, json: body });
    assert.equal(replaced.status, 200);
    const viewer = await t.json<Json>("/v1/schedules", { ...ns, token: t.tokens.viewer, json: body });
    assert.equal(viewer.status, 403);
    const bad = await t.json<Json>("/v1/schedules", { ...ns, json: { ...body, cron: "0 25 * * *" } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error?.code, "INVALID_INPUT");
    assert.match(bad.body.error?.message ?? "", /Expected "cron"/);
    const both = await t.json<Json>("/v1/schedules", { ...ns, json: { ...body, workflow: "w" } });
    assert.match(both.body.error?.message ?? "", /exactly one of "workflow" or "task"/);

    const shown = await t.json<Json & { nextFireTimes: number[] }>("/v1/schedules/reports", {
      ...ns,
      token: t.tokens.viewer,
    });
    assert.equal(shown.status, 200);
    assert.deepEqual(
      shown.body.nextFireTimes.map((n) => new Date(n).toISOString()),
      [
        "2026-06-01T13:00:00.000Z", // Monday 09:00 EDT
        "2026-06-02T13:00:00.000Z",
        "2026-06-03T13:00:00.000Z",
        "2026-06-04T13:00:00.000Z",
        "2026-06-05T13:00:00.000Z",
      ],
    );
    const list = await t.json<Json>("/v1/schedules", { ...ns, token: t.tokens.viewer });
    assert.deepEqual(
      list.body.items?.map((s) => s.id),
      ["reports"],
    );
    const other = await t.json<Json>("/v1/schedules", { namespace: "default" });
    assert.deepEqual(other.body.items, [], "schedules belong to their namespace");
  });

  it("documents the schedule routes in the OpenAPI document", async () => {
    const doc = (await t.json<Json>("/v1/openapi.json", { token: null })).body as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    assert.equal(doc.paths["/v1/schedules"]?.post?.operationId, "putSchedule");
    assert.equal(doc.paths["/v1/schedules/{id}"]?.get?.operationId, "getSchedule");
    assert.equal(doc.paths["/v1/schedules/{id}/backfill"]?.post?.operationId, "backfillSchedule");
  });

  it("the scheduler fires due schedules and records the lag in /metrics", async () => {
    const scheduler = new Scheduler({ store: t.store, metrics: t.kiln.deps.metrics, clock });
    now = Date.parse("2026-06-01T13:00:02Z");
    const fires = await scheduler.tick();
    assert.deepEqual(
      fires.map((f) => [f.scheduleId, f.outcome, f.lagMs]),
      [["reports", "started", 2000]],
    );
    const run = await t.store.getRun({ namespace: "team", id: fires[0]?.runId ?? "" });
    assert.deepEqual(run?.input, { day: "2026-06-01" });
    const metrics = await (await t.request("/metrics")).text();
    assert.match(metrics, /kiln_schedule_lag_seconds_count\{namespace="team"\} 1/);
    assert.match(metrics, /kiln_schedule_lag_seconds_bucket\{le="2.5",namespace="team"\} 1/);
    assert.match(metrics, /kiln_schedule_fires_total\{namespace="team",outcome="started"\} 1/);
  });

  it("pauses with a note, resumes, triggers, backfills and deletes", async () => {
    const paused = await t.json<Json>("/v1/schedules/reports/pause", { ...ns, json: { note: "holiday" } });
    assert.equal(paused.body.paused, true);
    assert.equal(paused.body.note, "holiday");
    const shown = await t.json<Json>("/v1/schedules/reports", ns);
    assert.deepEqual(shown.body.nextFireTimes, []);
    const resumed = await t.json<Json>("/v1/schedules/reports/resume", { ...ns, method: "POST" });
    assert.equal(resumed.body.paused, false);
    const trigger = await t.json<Json>("/v1/schedules/reports/trigger", { ...ns, method: "POST" });
    assert.equal(trigger.body.outcome, "started");
    const backfill = await t.json<Json>("/v1/schedules/reports/backfill", {
      ...ns,
      json: { from: "2026-05-25T00:00Z", to: "2026-05-29T23:59Z" },
    });
    assert.equal(backfill.body.items?.length, 5);
    const deleted = await t.json<Json>("/v1/schedules/reports", { ...ns, method: "DELETE" });
    assert.equal(deleted.status, 200);
    const missing = await t.json<Json>("/v1/schedules/reports", ns);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error?.code, "SCHEDULE_NOT_FOUND");
  });

  it("a flow's trigger schedule (or FlowRunner's trigger.cron) is deployed with it and removed with it", async () => {
    const flow = (trigger: string) => `${trigger}
nodes:
  total:
    type: transform
    params:
      script: "return { at: input.at }"
`;
    const deploy = (source: string) =>
      t.json<Json>("/v1/workflows", { ...ns, json: { name: "nightly-flow", runtime: "flow", source } });
    const first = await deploy(
      flow('trigger: { cron: { cron: "0 2 * * *", timezone: Europe/Berlin, input: { at: "${schedule.time}" } } }'),
    );
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const s = await t.store.getSchedule({ namespace: "team", id: "nightly-flow" });
    assert.deepEqual(s?.target, { type: "workflow", name: "nightly-flow" });
    assert.equal(s?.source, "flow");
    assert.equal(s?.timezone, "Europe/Berlin");
    const both = await deploy(flow('trigger: { schedule: "@hourly" }\nmetadata: { schedule: "@daily" }'));
    assert.equal(both.status, 400);
    assert.match(both.body.error?.message ?? "", /declares its schedule 2 times/);
    const none = await deploy(flow("metadata: { description: no schedule }"));
    assert.equal(none.status, 201, JSON.stringify(none.body));
    assert.equal(await t.store.getSchedule({ namespace: "team", id: "nightly-flow" }), undefined);
  });

  it("POST /v1/runs {startAt} delays the start; delayMs and startAt together are refused", async () => {
    const at = "2026-12-24T09:00Z";
    const started = await t.json<Json>("/v1/runs", {
      ...ns,
      json: { type: "task", name: "report", allowUnknown: true, startAt: at },
    });
    assert.equal(started.status, 201);
    assert.equal(started.body.availableAt, Date.parse(at));
    assert.equal(started.body.status, "queued");
    const claimed = await t.store.claimRuns({
      namespace: "team",
      queues: ["default"],
      owner: "w",
      limit: 10,
      leaseMs: 1000,
    });
    assert.ok(!claimed.runs.some((r) => r.run.id === started.body.id), "not claimable before startAt");
    const both = await t.json<Json>("/v1/runs", {
      ...ns,
      json: { type: "task", name: "report", allowUnknown: true, startAt: at, delayMs: 10 },
    });
    assert.equal(both.status, 400);
    assert.match(both.body.error?.message ?? "", /either "delayMs" or "startAt"/);
    const badTime = await t.json<Json>("/v1/runs", {
      ...ns,
      json: { type: "task", name: "report", allowUnknown: true, startAt: "next tuesday" },
    });
    assert.equal(badTime.status, 400);
    assert.match(badTime.body.error?.message ?? "", /ISO 8601/);
  });
});
