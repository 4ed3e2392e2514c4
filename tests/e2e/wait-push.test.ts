/**
 * `kiln start --wait` follows the server's SSE stream and reads the run on every change: it sees
 * the run's end, and it keeps waiting through a server restart (the stream is reopened and the
 * run read again), on PostgreSQL and on SQLite (`kiln dev`).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import pg from "pg";
import { postgresSkip } from "../support/test-db.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const pgUrl = process.env.KILN_TEST_DATABASE_URL ?? "";
/** A server's start-up, generous: the machine these run on may be shared and busy. */
const READY_MS = 120_000;

describe("kiln start --wait through a server restart (PostgreSQL)", { skip: postgresSkip(), timeout: 400_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-wait-pg-"));
  const schema = `kiln_wait_${process.pid}_${Date.now()}`;
  const dbUrl = `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}`;
  const procs: KilnProcess[] = [];
  after(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps waiting while the server restarts and returns the run's end", async () => {
    const data = join(dir, "data");
    const first = await startKiln(["server", "--db", dbUrl, "--port", "0", "--data", data], dir, {}, READY_MS);
    procs.push(first);
    const port = new URL(first.url).port;
    const admin = ["--server", first.url, "--token", readFileSync(join(data, "admin-token"), "utf8").trim()];
    // No worker serves this run: it stays queued until the test cancels it.
    const waiting = kiln([...admin, "--json", "start", "never-served", "--allow-unknown", "--wait"]);
    const db = new pg.Client({ connectionString: pgUrl });
    await db.connect();
    let id: string;
    try {
      id = await eventually(async () => {
        const rows = await db.query(`SELECT id FROM "${schema}".runs`).catch(() => ({ rows: [] }));
        return (rows.rows[0] as { id: string } | undefined)?.id;
      });
    } finally {
      await db.end();
    }
    await first.stop("SIGKILL");
    const second = await startKiln(["server", "--db", dbUrl, "--port", port, "--data", data], dir, {}, READY_MS);
    procs.push(second);
    const cancelled = await kiln([...admin, "cancel", id]);
    assert.equal(cancelled.code, 0, cancelled.err);
    const done = await waiting;
    assert.equal(done.code, 1, done.err);
    const run = done.json() as { id: string; status: string };
    assert.equal(run.id, id);
    assert.equal(run.status, "cancelled");
  });
});

describe("kiln start --wait against kiln dev (SQLite)", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-wait-dev-"));
  let dev: KilnProcess | undefined;
  after(async () => {
    await dev?.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("returns the completed run with its output, and a follow of its logs ends with it", async () => {
    writeFileSync(
      join(dir, "kiln.yaml"),
      `tasks:
  - kind: answer
    command: bash
    args: ["-c", "echo working >&2; echo '{\\"answer\\": 42}'"]
    output_format: json_stdout
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir, {}, READY_MS);
    const target = ["--server", dev.url];
    const done = await kiln([...target, "--json", "run", "answer", "--wait"]);
    assert.equal(done.code, 0, done.err);
    const run = done.json() as { id: string; status: string; output: unknown };
    assert.equal(run.status, "completed");
    assert.deepEqual(run.output, { answer: 42 });
    const logs = await kiln([...target, "logs", run.id, "--follow"]);
    assert.equal(logs.code, 0, logs.err);
    assert.match(logs.out, /working/);
  });
});
