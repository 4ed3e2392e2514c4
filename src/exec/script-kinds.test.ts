import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { openTestSqlite, type TestStore } from "../../tests/support/test-db.ts";
import { parseConfig } from "../config/load-config.ts";
import { registerScriptKinds } from "./script-kinds.ts";
import { Worker } from "../worker/worker.ts";

const fixtures = fileURLToPath(new URL("../../tests/fixtures", import.meta.url));

describe("script task kinds through the worker (real processes, real kiln on PATH)", () => {
  const clock = { now: Date.now() };
  let db: TestStore;
  let dir: string;
  let worker: Worker;

  before(async () => {
    db = await openTestSqlite({ clock: () => clock.now });
    dir = mkdtempSync(join(tmpdir(), "kiln-script-kinds-"));
    writeFileSync(
      join(dir, "resumable.sh"),
      [
        "#!/usr/bin/env bash",
        "set -euo pipefail",
        `one=$(kiln step one -- bash -c "echo one >> '${dir}/runs'; echo result-one")`,
        `kiln step two -- bash -c "echo two >> '${dir}/runs'; if [ -e '${dir}/fail-two' ]; then exit 3; fi; echo result-two"`,
        'kiln state set seen "$one"',
        "kiln sleep nap 1h",
        `kiln step three -- bash -c "echo three >> '${dir}/runs'; echo result-three"`,
        'kiln output set one "$one"',
        "kiln progress 100 done",
      ].join("\n"),
    );
    writeFileSync(
      join(dir, "backup.py"),
      [
        "import json, os, sys",
        "req = json.load(sys.stdin)",
        "attempt = int(os.environ['KILN_ATTEMPT'])",
        "print('::progress percent=50::dumping ' + req['db'])",
        "if attempt == 1:",
        "    print('transient network error', file=sys.stderr)",
        "    sys.exit(75)",
        "print(json.dumps({'db': req['db'], 'bucket': os.environ['BUCKET'], 'cwd': os.getcwd(), 'attempt': attempt,",
        "                  'max_retries': os.environ['KILN_MAX_RETRIES'], 'key': os.environ['KILN_IDEMPOTENCY_KEY']}))",
      ].join("\n"),
    );
    const config = parseConfig(
      `
server:   { url: "http://localhost:7700", namespace: default, token: "\${KILN_TOKEN}" }
worker:   { name: kiln-worker, queue: default, concurrency: 8, heartbeat_interval_seconds: 30 }
tasks:
  - kind: run-backup
    command: /usr/bin/python3
    args: ["${dir}/backup.py"]
    input_format: json_stdin
    output_format: json_stdout
    exit_codes: { success: [0], retry: [75, 111], failure: ["1-255"] }
    timeout_seconds: 3600
    timeout_action: signal
    grace_period_seconds: 30
    max_retries: 3
    working_directory: ${dir}
    env: { BUCKET: "\${BACKUP_BUCKET}" }
  - kind: echo-json
    command: bash
    args: ["${fixtures}/echo-json.sh"]
    input_format: env
    output_format: json_stdout
  - kind: failing
    command: bash
    args: ["${fixtures}/failing.sh"]
  - kind: retry-exit
    command: bash
    args: ["${fixtures}/retry-exit.sh"]
    exit_codes: { success: [0], retry: [75, 111], failure: ["1-255"] }
    max_retries: 3
    retry: { initial_interval_seconds: 5 }
    env: { SUCCEED_ON: "3" }
  - kind: resumable
    command: bash
    args: ["${dir}/resumable.sh"]
    exit_codes: { success: [0], retry: [3], failure: ["1-255"] }
    max_retries: 2
    retry: { initial_interval_seconds: 1 }
`,
      { file: "kiln.yaml", baseDir: dir, env: { BACKUP_BUCKET: "s3://backups", KILN_TOKEN: "t" } },
    );
    worker = new Worker({ client: db.store, housekeeper: db.store, namespace: "scripts", clock: () => clock.now });
    registerScriptKinds(worker.registry, config.tasks, { baseDir: dir });
  });
  after(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (name: string, input: unknown = null) =>
    (await db.store.startRun({ namespace: "scripts", type: "task", name, input })).run.id;
  const get = async (id: string) => await db.store.getRun({ namespace: "scripts", id });

  it("runs the example script-task config end to end (json stdin/stdout, retry code, cwd, env)", async () => {
    const id = await start("run-backup", { db: "orders" });
    await worker.drain();
    assert.equal((await get(id))?.status, "queued", "exit 75 retries");
    clock.now += 2_000;
    await worker.drain();
    const run = await get(id);
    assert.equal(run?.status, "completed", JSON.stringify(run?.error));
    assert.deepEqual(run?.output, {
      db: "orders",
      bucket: "s3://backups",
      cwd: dir,
      attempt: 2,
      max_retries: "3",
      key: id,
    });
    assert.equal(run?.progress?.percent, 50);
  });

  it("runs echo-json.sh with env input and JSON output", async () => {
    const id = await start("echo-json", { name: "Ada; rm -rf /" });
    await worker.drain();
    const run = await get(id);
    assert.equal(run?.status, "completed");
    assert.deepEqual(run?.output, { greeting: "hello Ada; rm -rf /", attempt: 1 });
  });

  it("fails failing.sh (exit 1) at once with the exit code and stderr tail kept", async () => {
    const id = await start("failing");
    await worker.drain();
    const run = await get(id);
    assert.equal(run?.status, "failed");
    assert.equal(run?.attempt, 1);
    assert.equal((run?.error?.data as { exitCode?: number })?.exitCode, 1);
  });

  it("retries retry-exit.sh (exit 75) with the kind's backoff until attempt 3 succeeds", async () => {
    const id = await start("retry-exit");
    await worker.drain();
    assert.equal((await get(id))?.status, "queued");
    assert.equal((await get(id))?.attempt, 2);
    clock.now += 6_000;
    await worker.drain();
    assert.equal((await get(id))?.attempt, 3);
    clock.now += 12_000;
    await worker.drain();
    const run = await get(id);
    assert.equal(run?.status, "completed");
    assert.match(JSON.stringify(run?.output), /ok on attempt 3/);
  });

  it("resumes a set -e Bash script: kiln step replays, kiln sleep parks durably, state survives", async () => {
    writeFileSync(join(dir, "fail-two"), "");
    writeFileSync(join(dir, "runs"), "");
    const id = await start("resumable");
    await worker.drain();
    let run = await get(id);
    assert.equal(run?.status, "queued", "exit 3 is a retry code");
    rmSync(join(dir, "fail-two"));
    clock.now += 2_000;
    await worker.drain();
    run = await get(id);
    assert.equal(run?.status, "sleeping");
    assert.equal(run?.state.seen, "result-one");
    clock.now += 3_600_000;
    await worker.drain();
    run = await get(id);
    assert.equal(run?.status, "completed", JSON.stringify(run?.error));
    assert.equal((run?.output as { one?: string })?.one, "result-one");
    assert.deepEqual(run?.progress, { percent: 100, message: "done" });
    const runs = readFileSync(join(dir, "runs"), "utf8").trim().split("\n");
    assert.deepEqual(runs, ["one", "two", "two", "three"], "step one ran once; two re-ran after failing; three once");
  });
});
