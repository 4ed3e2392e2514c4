import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadConfig } from "./load-config.ts";

/** Loads a kiln.yaml written to a temp directory. */
function load(text: string) {
  const dir = mkdtempSync(join(tmpdir(), "kiln-sched-config-"));
  try {
    writeFileSync(join(dir, "kiln.yaml"), text);
    return loadConfig({ file: join(dir, "kiln.yaml"), env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("schedules in kiln.yaml", () => {
  it("resolves schedules: entries and task kinds' schedule: shorthands", () => {
    const config = load(`tasks:
  - kind: backup
    command: "true"
    schedule: "0 3 * * *"
schedules:
  - id: weekly
    workflow: report
    cron: "0 9 * * MON"
    timezone: Europe/Berlin
    jitter: 30s
    catch_up: latest
    catch_up_window: 6h
`);
    assert.deepEqual(
      config.schedules.map((s) => [s.id, s.target, s.cron, s.timezone, s.jitterMs, s.catchUp, s.catchUpWindowMs]),
      [
        ["weekly", { type: "workflow", name: "report" }, "0 9 * * MON", "Europe/Berlin", 30_000, "latest", 21_600_000],
        ["backup", { type: "task", name: "backup" }, "0 3 * * *", "UTC", 0, "none", 86_400_000],
      ],
    );
  });

  it("refuses a bad cron, a duplicate id and a shorthand on a kind whose name is no schedule id", () => {
    assert.throws(
      () => load('schedules:\n  - { id: x, task: t, cron: "0 0 32 * *" }\n'),
      /schedules\[0\]: Expected "cron"/,
    );
    assert.throws(
      () =>
        load(
          'tasks:\n  - { kind: x, command: "true", schedule: "@daily" }\nschedules:\n  - { id: x, task: t, cron: "@hourly" }\n',
        ),
      /declared twice/,
    );
    assert.throws(
      () => load('tasks:\n  - { kind: "ns:x", command: "true", schedule: "@daily" }\n'),
      /give this one a schedules: entry/,
    );
  });
});
