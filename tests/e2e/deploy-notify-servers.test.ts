/**
 * Several `kiln server`s on one PostgreSQL: a deploy through one server wakes the claims waiting
 * on every other (the deployment is announced with NOTIFY at commit), so a remote worker behind
 * the other server claims the first run of the new workflow without waiting out its long-poll.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { postgresSkip } from "../support/test-db.ts";
import { CLAIM_LONG_POLL_MS, deployAndRunFresh, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const pgUrl = process.env.KILN_TEST_DATABASE_URL ?? "";
/** Processes start slowly on a busy machine; readiness is not what is measured here. */
const READY_MS = 120_000;

describe("a deploy through one server wakes claims waiting on another", {
  skip: postgresSkip(),
  timeout: 420_000,
}, () => {
  const schema = `kiln_e2e_deploy_${process.pid}_${Date.now()}`;
  const dbUrl = `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}`;
  let dir: string;
  const procs: KilnProcess[] = [];
  let viaA: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-deploy-servers-"));
    writeFileSync(join(dir, "kiln.yaml"), "worker: { name: behind-b, queue: default, concurrency: 2 }\n");
    const serverA = await startKiln(
      ["server", "--db", dbUrl, "--port", "0", "--data", join(dir, "a")],
      dir,
      {},
      READY_MS,
    );
    procs.push(serverA);
    const serverB = await startKiln(
      ["server", "--db", dbUrl, "--port", "0", "--data", join(dir, "b")],
      dir,
      {},
      READY_MS,
    );
    procs.push(serverB);
    viaA = ["--server", serverA.url, "--token", readFileSync(join(dir, "a", "admin-token"), "utf8").trim()];
    const created = await kiln([...viaA, "tokens", "create", "--name", "w", "--role", "worker", "--json"]);
    assert.equal(created.code, 0, created.err);
    const token = (created.json() as { token: string }).token;
    const worker = ["worker", "--server", serverB.url, "--token", token, "--data", join(dir, "w")];
    procs.push(await startKiln(worker, dir, {}, READY_MS));
  });

  after(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it("runs the first run of a workflow deployed through server A on a worker claiming from server B", async () => {
    // Let the worker's first claim (no deployed names yet) settle into its long-poll on server B.
    await new Promise((r) => setTimeout(r, 2000));
    const tookMs = await deployAndRunFresh(dir, viaA);
    // Without the notification server B's claim waits out its long-poll with the old names.
    assert.ok(tookMs < CLAIM_LONG_POLL_MS - 5000, `the first run took ${tookMs} ms`);
  });
});
