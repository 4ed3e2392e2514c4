// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${schedule.time} placeholders appear in plain strings on purpose.
/**
 * Schedules and delayed starts through the CLI against a real `kiln dev` (SQLite): a schedule
 * every second runs a script task 3 times; config schedules follow the config's hot reload; a
 * delayed run is listed as scheduled and can be cancelled before it starts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import type { Schedule, ScheduleFire } from "../../src/store/schedule-store.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const TASKS = `tasks:
  - kind: tick
    command: bash
    args: ["-c", "echo \\"tick at $INPUT_AT\\""]
`;

const NIGHTLY = `schedules:
  - id: nightly
    task: tick
    cron: "0 3 * * *"
    timezone: Europe/Berlin
    input: { at: "\${schedule.time}" }
`;

describe("schedules through the CLI against kiln dev", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-cli-schedules-"));
    writeFileSync(join(dir, "kiln.yaml"), `${TASKS}${NIGHTLY}`);
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a schedule every second runs a script task 3 times", async () => {
    const created = await kiln([
      ...g,
      "schedules",
      "create",
      "every-second",
      "--task",
      "tick",
      "--cron",
      "@every 1s",
      "--overlap",
      "allow",
      "-i",
      '{"at":"${schedule.time}"}',
    ]);
    assert.equal(created.code, 0, created.err);
    const runs = await eventually(async () => {
      const page = (await kiln([...g, "list", "runs", "--task", "tick", "--status", "completed", "--json"])).json() as {
        items: Run[];
      };
      return page.items.length >= 3 ? page.items : undefined;
    }, 60_000);
    const paused = await kiln([...g, "schedules", "pause", "every-second", "--note", "enough"]);
    assert.equal(paused.code, 0, paused.err);
    for (const run of runs.slice(0, 3)) {
      assert.equal(run.metadata.schedule, "every-second");
      assert.match(String(run.idempotencyKey), /^schedule:every-second:\d{4}-/);
      assert.deepEqual(run.input, { at: run.metadata.scheduledAt });
    }
    const show = await kiln([...g, "schedules", "show", "every-second", "--json"]);
    const detail = show.json() as Schedule & { recentFires: ScheduleFire[]; nextFireTimes: number[] };
    assert.equal(detail.paused, true);
    assert.equal(detail.note, "enough");
    assert.ok(detail.recentFires.filter((f) => f.outcome === "started").length >= 3);
    const text = await kiln([...g, "schedules", "show", "every-second"]);
    assert.match(text.out, /paused: enough/);
    assert.match(text.out, /last results:\n {2}\S+ started run_|last results:\n {2}\S+ started \S+/);
  });

  it("show lists the next 5 fire times in the schedule's zone; trigger starts a run now", async () => {
    const text = await kiln([...g, "schedules", "show", "nightly"]);
    assert.equal(text.code, 0, text.err);
    const times = [...text.out.matchAll(/^ {2}(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/gm)].map((m) => m[1] as string);
    assert.equal(times.length, 5);
    for (const t of times) assert.match(t, /T0[12]:00:00Z$/, "03:00 in Berlin is 01:00 or 02:00 UTC");
    const trigger = await kiln([...g, "schedules", "trigger", "nightly"]);
    assert.equal(trigger.code, 0, trigger.err);
    const id = trigger.out.trim();
    const run = await eventually(async () => {
      const r = (await kiln([...g, "status", id, "--json"])).json() as Run;
      return r.status === "completed" ? r : undefined;
    });
    assert.equal(run.name, "tick");
  });

  it("config schedules are listed as config and removed when the config drops them", async () => {
    const list = await kiln([...g, "schedules", "list", "--json"]);
    const items = (list.json() as { items: Schedule[] }).items;
    assert.deepEqual(
      items.map((s) => [s.id, s.source]),
      [
        ["every-second", "api"],
        ["nightly", "config"],
      ],
    );
    writeFileSync(join(dir, "kiln.yaml"), TASKS);
    await eventually(async () => {
      const now = (await kiln([...g, "schedules", "list", "--json"])).json() as { items: Schedule[] };
      return now.items.length === 1 ? true : undefined;
    });
    const gone = await kiln([...g, "schedules", "show", "nightly"]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.err, /SCHEDULE_NOT_FOUND|No schedule "nightly"/);
    const deleted = await kiln([...g, "schedules", "delete", "every-second"]);
    assert.equal(deleted.code, 0, deleted.err);
  });

  it("a delayed run is listed as scheduled and can be cancelled before it starts", async () => {
    const delayed = await kiln([...g, "run", "tick", "--delay", "10m"]);
    assert.equal(delayed.code, 0, delayed.err);
    assert.match(delayed.err, /scheduled: starts at/);
    const id = delayed.out.trim();
    const at = await kiln([...g, "run", "tick", "--at", "2099-12-24T09:00Z", "--json"]);
    assert.equal((at.json() as Run).availableAt, Date.parse("2099-12-24T09:00Z"));
    const list = await kiln([...g, "list", "runs", "--task", "tick", "--status", "queued"]);
    assert.match(list.out, new RegExp(`${id}.*scheduled \\d{4}-`));
    assert.match(list.out, /scheduled 2099-12-24 09:00:00/);
    const cancel = await kiln([...g, "cancel", id]);
    assert.equal(cancel.code, 0, cancel.err);
    const run = (await kiln([...g, "status", id, "--json"])).json() as Run;
    assert.equal(run.status, "cancelled");
    assert.equal(run.startedAt, null, "it never started");
    const both = await kiln([...g, "run", "tick", "--delay", "1m", "--at", "2099-01-01T00:00Z"]);
    assert.notEqual(both.code, 0);
    assert.match(both.err, /either --delay or --at/);
  });
});
