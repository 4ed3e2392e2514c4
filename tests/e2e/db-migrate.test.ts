/**
 * `kiln db migrate` moves a live SQLite installation to PostgreSQL (issue 15.2): runs parked in
 * every way (sleeping, waiting for an event, stopped mid-compensation), finished ones,
 * deployments, secrets and tokens are copied; `kiln dev` started on the PostgreSQL copy resumes
 * every parked run to completion.
 * `kiln db backup|restore` round-trip a database taken while `kiln dev` runs.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { postgresSkip } from "../support/test-db.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const pgUrl = process.env.KILN_TEST_DATABASE_URL ?? "";

interface RunView {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly output: unknown;
}

describe("kiln db migrate: a SQLite installation moves to PostgreSQL", {
  skip: postgresSkip(),
  timeout: 240_000,
}, () => {
  const schema = `kiln_migrate_${process.pid}_${Date.now()}`;
  const target = `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}`;
  let dir: string;
  let data: string;
  let dev: KilnProcess | undefined;
  const ids = { done: "", failed: "", napper: "", waiter: "", undone: "", undoing: "" };
  let token = "";

  const g = () => ["--server", dev?.url ?? "", "--data", data];
  const status = async (id: string) => (await kiln([...g(), "status", id, "--json"])).json() as RunView;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-db-migrate-"));
    data = join(dir, ".kiln");
    mkdirSync(join(dir, "workflows"));
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker: { name: migrate-worker, queue: default, concurrency: 4, shutdown_timeout: 1s }
tasks:
  - kind: echo
    command: bash
    args: ["-c", "echo done"]
  - kind: fails
    command: bash
    args: ["-c", "exit 3"]
    max_retries: 0
  - kind: uses-secret
    command: bash
    args: ["-c", "echo \\"token is $API_TOKEN\\""]
    env: { API_TOKEN: "\${secret:API_TOKEN}" }
`,
    );
    writeFileSync(
      join(dir, "workflows", "napper.js"),
      `async function workflow(input, { step, sleep }) {
  const a = await step("before", () => "slept");
  await sleep("nap", 20000);
  return await step("after", () => a + " and woke");
}
`,
    );
    writeFileSync(
      join(dir, "workflows", "waiter.js"),
      `async function workflow(input, { step, waitForEvent, log }) {
  await step("reserve", () => "r-" + input.k, { compensate: (r) => log("releasing " + r) });
  const e = await waitForEvent("go", { event: "go", key: input.k });
  return await step("done", () => ({ go: e.ok, k: input.k }));
}
`,
    );
    // Its compensation takes ten minutes on SQLite, so stopping kiln dev freezes the run in the
    // middle of it; the PostgreSQL side (UNDO_FAST set) runs it again, quickly, to the end.
    writeFileSync(
      join(dir, "workflows", "slow-undo.js"),
      `async function workflow(input, { step, waitForEvent, log }) {
  await step("reserve", () => "r-" + input.k, {
    compensate: async (r) => {
      log("releasing " + r);
      await new Promise((done) => setTimeout(done, process.env.UNDO_FAST ? 10 : 600000));
      log("released " + r);
    },
  });
  return await waitForEvent("never", { event: "never", key: input.k });
}
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    const secret = await kiln([...g(), "secrets", "set", "API_TOKEN", "s3cr3t-value"]);
    assert.equal(secret.code, 0, secret.err);
    const created = await kiln([...g(), "tokens", "create", "--name", "ci", "--role", "developer", "--json"]);
    assert.equal(created.code, 0, created.err);
    token = (created.json() as { token: string }).token;
    const start = async (args: string[]) => {
      const r = await kiln([...g(), ...args]);
      assert.equal(r.code, 0, r.err);
      return r.out.trim();
    };
    ids.done = await start(["run", "echo"]);
    ids.failed = await start(["run", "fails"]);
    ids.napper = await start(["start", "napper"]);
    ids.waiter = await start(["start", "waiter", "-i", '{"k":"a"}']);
    ids.undone = await start(["start", "waiter", "-i", '{"k":"b"}']);
    ids.undoing = await start(["start", "slow-undo", "-i", '{"k":"c"}']);
    for (const [id, want] of [
      [ids.done, "completed"],
      [ids.failed, "failed"],
      [ids.napper, "sleeping"],
      [ids.waiter, "waiting"],
      [ids.undone, "waiting"],
      [ids.undoing, "waiting"],
    ] as const) {
      await eventually(async () => ((await status(id)).status === want ? true : undefined));
    }
    assert.equal((await kiln([...g(), "cancel", ids.undone])).code, 0);
    await eventually(async () => ((await status(ids.undone)).status === "compensated" ? true : undefined));
    // Cancelled while waiting: its compensation starts and is still running when kiln dev stops.
    assert.equal((await kiln([...g(), "cancel", ids.undoing])).code, 0);
    await eventually(async () => {
      const logs = await kiln([...g(), "logs", ids.undoing]);
      return logs.out.includes("releasing r-c") ? true : undefined;
    });
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("backs up the live database online and restores it as an intact copy", async () => {
    const backup = join(dir, "backup.db");
    const r = await kiln(["db", "backup", backup, "--db", join(data, "kiln.db")]);
    assert.equal(r.code, 0, r.err);
    const restored = join(dir, "restored", "kiln.db");
    mkdirSync(join(dir, "restored"));
    assert.equal((await kiln(["db", "restore", backup, "--db", restored])).code, 0);
    const again = await kiln(["db", "restore", backup, "--db", restored]);
    assert.equal(again.code, 1);
    assert.match(again.err, /TARGET_NOT_EMPTY/);
    const db = new Database(restored, { readonly: true });
    try {
      assert.equal((db.pragma("integrity_check") as { integrity_check: string }[])[0]?.integrity_check, "ok");
      const n = db.prepare("SELECT COUNT(*) AS n FROM runs").get() as { n: number };
      assert.ok(n.n >= 5);
    } finally {
      db.close();
    }
  });

  it("copies every table with matching counts, refuses a filled target without --force, then resumes on PostgreSQL", async () => {
    const undoing = await status(ids.undoing);
    assert.ok(["cancelling", "compensating"].includes(undoing.status), `mid-compensation: ${undoing.status}`);
    await dev?.stop();
    dev = undefined;
    const migrate = await kiln(["db", "migrate", "--from", join(data, "kiln.db"), "--to", target, "--json"]);
    assert.equal(migrate.code, 0, migrate.err);
    const report = migrate.json() as { tables: { name: string; source: number; target: number }[] };
    const rows = Object.fromEntries(report.tables.map((t) => [t.name, t.target]));
    for (const table of ["runs", "steps", "secrets", "api_tokens", "workflow_deployments", "event_waits", "logs"]) {
      assert.ok((rows[table] ?? 0) > 0, `${table}: ${JSON.stringify(report.tables)}`);
    }
    const refused = await kiln(["db", "migrate", "--from", join(data, "kiln.db"), "--to", target]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /TARGET_NOT_EMPTY/);
    assert.equal((await kiln(["db", "migrate", "--from", join(data, "kiln.db"), "--to", target, "--force"])).code, 0);

    // The cut-over: the same data directory (master key, admin token), the store on PostgreSQL.
    dev = await startKiln(["dev", "--port", "0", "--db", target], dir, { UNDO_FAST: "1" });
    assert.equal((await status(ids.done)).status, "completed");
    assert.equal((await status(ids.failed)).status, "failed");
    assert.equal((await status(ids.undone)).status, "compensated");
    await eventually(async () => ((await status(ids.undoing)).status === "compensated" ? true : undefined), 60_000);
    assert.match((await kiln([...g(), "logs", ids.undoing])).out, /released r-c/);
    const sent = await kiln([...g(), "events", "send", "go", "--key", "a", "-d", '{"ok":true}']);
    assert.equal(sent.code, 0, sent.err);
    const waiter = await eventually(async () => {
      const s = await status(ids.waiter);
      return s.status === "completed" ? s : undefined;
    });
    assert.deepEqual(waiter.output, { go: true, k: "a" });
    const napper = await eventually(async () => {
      const s = await status(ids.napper);
      return s.status === "completed" ? s : undefined;
    }, 60_000);
    assert.equal(napper.output, "slept and woke");
    // Secrets decrypt with the same master key; tokens made before the move still work.
    const secretRun = await kiln([...g(), "run", "uses-secret", "--wait", "--json"]);
    assert.equal(secretRun.code, 0, secretRun.err + secretRun.out);
    assert.match(JSON.stringify(secretRun.json()), /token is \*\*\*/);
    const withToken = await kiln(["--server", dev.url, "--token", token, "status", ids.done]);
    assert.equal(withToken.code, 0, withToken.err);
  });
});
