/**
 * The CLI and the dev terminal as a person sees them, against a real `kiln dev`: `-o table|json|
 * jsonl` (with `--json` as `-o json`), human times in tables, colour on a terminal that honours
 * NO_COLOR and FORCE_COLOR, pretty or JSON process logs without a line per request, `--follow`
 * showing the logs of child runs, and `kiln init`'s script writing its outputs to `$KILN_OUTPUT`.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { KILN_BIN, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const ESC = "\u001b[";
/** Processes start slowly on a busy machine; readiness is not what is measured here. */
const READY_MS = 120_000;

/** Runs `kiln args` as its own process; `tty` runs it under `script` so its stdout is a terminal. */
function kilnProcess(args: readonly string[], env: NodeJS.ProcessEnv, tty = false): string {
  const clean = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
  if (!tty) return execFileSync(process.execPath, [KILN_BIN, ...args], { env: clean, encoding: "utf8" });
  const quoted = [process.execPath, KILN_BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  return execFileSync("script", ["-qec", quoted, "/dev/null"], { env: clean, encoding: "utf8" });
}

describe("CLI polish against kiln dev", { timeout: 240_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let pretty: KilnProcess;
  let g: string[];
  let taskRun: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-cli-polish-"));
    assert.equal((await kiln(["init", dir])).code, 0);
    dev = await startKiln(["dev", "--port", "0"], dir, {}, READY_MS);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    const started = await kiln([...g, "run", "hello", "-i", '{"name":"Bob"}', "--wait", "--json"]);
    assert.equal(started.code, 0, started.err);
    taskRun = (started.json() as Run).id;
  });

  after(async () => {
    await dev?.stop();
    await pretty?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("kiln init's script writes its outputs to the $KILN_OUTPUT file", async () => {
    const script = readFileSync(join(dir, "scripts", "hello.sh"), "utf8");
    assert.match(script, />> "\$KILN_OUTPUT"/);
    assert.doesNotMatch(script, /echo "::set-output/);
    const run = (await kiln([...g, "status", taskRun, "--json"])).json() as Run;
    assert.deepEqual(run.output, { greeting: "Hello, Bob!", attempt: "1" });
  });

  it("-o json is --json, -o jsonl prints one item per line, -o table a table with human times", async () => {
    const asJson = await kiln([...g, "-o", "json", "list", "runs"]);
    assert.equal(asJson.code, 0, asJson.err);
    assert.deepEqual(
      (asJson.json() as { items: Run[] }).items.map((r) => r.id),
      ((await kiln([...g, "--json", "list", "runs"])).json() as { items: Run[] }).items.map((r) => r.id),
    );
    const lines = (await kiln([...g, "list", "runs", "-o", "jsonl"])).out.trim().split("\n");
    assert.ok(lines.length >= 1);
    const parsed = lines.map((l) => JSON.parse(l) as Run);
    assert.ok(parsed.some((r) => r.id === taskRun && r.status === "completed"));
    const single = (await kiln([...g, "status", taskRun, "-o", "jsonl"])).out.trim();
    assert.equal(single.split("\n").length, 1, "a single value is one line");
    assert.equal((JSON.parse(single) as Run).id, taskRun);
    const table = await kiln([...g, "list", "runs", "-o", "table", "--task", "hello"]);
    assert.match(table.out, /CREATED\s+DURATION/);
    assert.match(
      table.out,
      new RegExp(`${taskRun}.*completed\\s+1\\s+(just now|\\d+ s ago|\\d+ min ago)\\s+[\\d.]+ (ms|s)`),
    );
    const bad = await kiln([...g, "list", "runs", "-o", "yaml"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /table, json, jsonl/);
  });

  it("colours statuses on a terminal, not with NO_COLOR, and when FORCE_COLOR says so", () => {
    const args = [...g, "list", "runs", "--task", "hello"];
    assert.ok(kilnProcess(args, {}, true).includes(`${ESC}32mcompleted`), "green on a terminal");
    assert.ok(!kilnProcess(args, { NO_COLOR: "1" }, true).includes(ESC), "NO_COLOR");
    assert.ok(!kilnProcess(args, {}).includes(ESC), "not a terminal");
    assert.ok(kilnProcess(args, { FORCE_COLOR: "1" }).includes(`${ESC}32mcompleted`), "FORCE_COLOR");
  });

  it("logs JSON when not on a terminal, without a line per request at info", async () => {
    for (let i = 0; i < 3; i++) await kiln([...g, "status", taskRun]);
    const lines = dev
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"));
    assert.ok(
      lines.some((l) => (JSON.parse(l) as { msg: string }).msg.startsWith("Deployed hello")),
      dev.output(),
    );
    assert.ok(!lines.some((l) => (JSON.parse(l) as { msg: string }).msg === "request"), "request lines are debug");
  });

  it("--log-format pretty prints human lines, coloured unless NO_COLOR", async () => {
    const other = mkdtempSync(join(tmpdir(), "kiln-cli-polish-pretty-"));
    try {
      assert.equal((await kiln(["init", other])).code, 0);
      pretty = await startKiln(["dev", "--port", "0", "--log-format", "pretty"], other, { FORCE_COLOR: "1" }, READY_MS);
      assert.match(pretty.output(), /\[\d\d:\d\d:\d\d\.\d{3}\] /);
      assert.ok(pretty.output().includes(`${ESC}32mINFO${ESC}39m`), pretty.output());
      assert.doesNotMatch(pretty.output(), /"level":30/);
      await pretty.stop();
      rmSync(join(other, ".kiln"), { recursive: true, force: true });
      pretty = await startKiln(["dev", "--port", "0", "--log-format", "pretty"], other, { NO_COLOR: "1" }, READY_MS);
      assert.match(pretty.output(), /\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Deployed hello version 1/);
      assert.ok(!pretty.output().includes(ESC));
      const refused = await kiln(["--config", join(other, "kiln.yaml"), "dev", "--port", "0", "--log-format", "yaml"]);
      assert.equal(refused.code, 1);
      assert.match(refused.err, /INVALID_INPUT: .*--log-format .* "json" or "pretty", got "yaml"/);
    } finally {
      await pretty?.stop();
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("--follow prints the logs of child runs, prefixed with the child's name and id", async () => {
    const r = await kiln([...g, "start", "hello", "-i", '{"name":"Ada"}', "--follow"]);
    assert.equal(r.code, 0, r.err);
    const child = ((await kiln([...g, "list", "runs", "--task", "hello", "--json"])).json() as { items: Run[] }).items
      .filter((run) => run.parentRunId !== null)
      .at(0);
    assert.ok(child, "the workflow started a child task run");
    assert.match(r.out, new RegExp(`hello/${child.id.slice(-6)} \\| greeted Ada`));
    assert.match(r.out, /status\s+completed/);
  });
});
