/**
 * Runs the example of docs/schedules.md: its kiln.yaml under a real `kiln dev`, and the CLI
 * commands of the page against it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import type { Schedule } from "../../src/store/schedule-store.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const DOC = readFileSync(join(import.meta.dirname, "..", "..", "docs", "schedules.md"), "utf8");

function exampleConfig(): string {
  const match = /<!-- example: schedules-quickstart -->\s*\n```yaml\n([\s\S]*?)```/.exec(DOC);
  if (!match) throw new Error("docs/schedules.md lost its schedules-quickstart example");
  return match[1] as string;
}

describe("docs/schedules.md example under kiln dev", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-docs-schedules-"));
    writeFileSync(join(dir, "kiln.yaml"), exampleConfig());
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the ping shorthand runs every 5 seconds with its due time as input", async () => {
    const runs = await eventually(async () => {
      const page = (await kiln([...g, "list", "runs", "--task", "ping", "--status", "completed", "--json"])).json() as {
        items: Run[];
      };
      return page.items.length >= 1 ? page.items : undefined;
    }, 60_000);
    const run = runs[0] as Run;
    assert.deepEqual(run.input, { due: run.metadata.scheduledAt });
    const logs = await kiln([...g, "logs", run.id]);
    assert.match(logs.out, /ping due at \d{4}-/);
  });

  it("the commands of the page work", async () => {
    const list = await kiln([...g, "schedules", "list", "--json"]);
    assert.deepEqual(
      (list.json() as { items: Schedule[] }).items.map((s) => s.id),
      ["nightly-report", "ping"],
    );
    const show = await kiln([...g, "schedules", "show", "nightly-report"]);
    assert.match(show.out, /next fire times:\n( {2}\S+Z\n){5}/);
    const trigger = await kiln([...g, "schedules", "trigger", "nightly-report"]);
    assert.equal(trigger.code, 0, trigger.err);
    assert.equal((await kiln([...g, "schedules", "pause", "ping", "--note", "noisy"])).code, 0);
    assert.equal((await kiln([...g, "schedules", "resume", "ping"])).code, 0);
    const backfill = await kiln([
      ...g,
      "schedules",
      "backfill",
      "nightly-report",
      "--from",
      "2026-11-01T00:00Z",
      "--to",
      "2026-11-07T23:59Z",
    ]);
    assert.equal(backfill.code, 0, backfill.err);
    assert.equal(backfill.out.trim().split("\n").length, 7);
    const at = await kiln([...g, "run", "report", "-i", '{"day":"2026-12-24"}', "--at", "2099-12-24T09:00Z"]);
    assert.equal(at.code, 0, at.err);
    const delayed = await kiln([...g, "run", "report", "--delay", "10m"]);
    const id = delayed.out.trim();
    assert.match((await kiln([...g, "list", "runs", "--task", "report"])).out, new RegExp(`${id}.*scheduled`));
    assert.equal((await kiln([...g, "cancel", id])).code, 0);
    const report = await eventually(async () => {
      const r = (await kiln([...g, "status", trigger.out.trim(), "--json"])).json() as Run;
      return r.status === "completed" ? r : undefined;
    });
    assert.match(String(report.input && (report.input as { day: string }).day), /^\d{4}-\d\d-\d\d$/);
  });
});
