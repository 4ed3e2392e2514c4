/**
 * PostgreSQL goes away under load: two `kiln server` processes, two remote `kiln worker`s and a
 * `kiln worker --db` on a dedicated throwaway cluster, runs being started and executed, then every Kiln backend is
 * terminated (pg_terminate_backend), then PostgreSQL restarts with `-m fast` and with
 * `-m immediate`. No Kiln process may exit, and every run whose start was acknowledged (201)
 * must complete. Starts that fail meanwhile get a retryable 503 (STORE_UNAVAILABLE).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { openStore } from "../../src/store/open-store.ts";
import { createWorkerToken } from "../support/worker-token.ts";
import { writeEchoProject } from "../support/echo-project.ts";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../support/postgres-cluster.mjs";
import { postgresSkip } from "../support/test-db.ts";
import { eventually, type KilnProcess, startKiln } from "./cli-support.ts";

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("PostgreSQL connection loss and restarts under load", { skip: postgresSkip(), timeout: 180_000 }, () => {
  let cluster: ThrowawayPostgres;
  let dir: string;
  const procs: KilnProcess[] = [];
  let servers: KilnProcess[] = [];
  let adminToken: string;

  before(async () => {
    cluster = await startThrowawayPostgres({ durable: true });
    dir = mkdtempSync(join(tmpdir(), "kiln-pg-restart-"));
    writeEchoProject(dir, "restart-worker");
    for (const name of ["a", "b"]) {
      const server = await startKiln(["server", "--db", cluster.url, "--port", "0", "--data", join(dir, name)], dir);
      procs.push(server);
      servers.push(server);
    }
    adminToken = readFileSync(join(dir, "a", "admin-token"), "utf8").trim();
    const workerToken = await createWorkerToken(servers[0]?.url ?? "", adminToken);
    for (const [i, server] of servers.entries()) {
      procs.push(
        await startKiln(
          ["worker", "--server", server.url, "--token", workerToken, "--name", `w${i}`, "--concurrency", "4"],
          dir,
        ),
      );
    }
    // And a worker on the database itself, whose store meets the same dropped connections.
    procs.push(await startKiln(["worker", "--db", cluster.url, "--name", "wdb", "--concurrency", "2"], dir));
  });

  after(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    servers = [];
    rmSync(dir, { recursive: true, force: true });
    await cluster?.stop();
  });

  it("keeps every process up and completes every acknowledged run", async () => {
    const acknowledged: string[] = [];
    const refusals = new Map<string, number>();
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading; i++) {
        const server = servers[i % servers.length] as KilnProcess;
        try {
          const res = await fetch(`${server.url}/v1/runs`, {
            method: "POST",
            headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
            body: JSON.stringify({ type: "task", name: "echo-n", input: { n: i } }),
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await res.json()) as { id?: string; error?: { code: string; retryable?: boolean } };
          if (res.status === 201 && body.id) acknowledged.push(body.id);
          else {
            const code = `${res.status} ${body.error?.code} retryable=${body.error?.retryable}`;
            refusals.set(code, (refusals.get(code) ?? 0) + 1);
          }
        } catch {
          // No answer at all: the start was not acknowledged, so nothing is owed.
        }
        await pause(20);
      }
    })();

    const terminateKilnBackends = async () => {
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      const { rowCount } = await client.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'kiln%' AND pid <> pg_backend_pid()",
      );
      await client.end();
      return rowCount ?? 0;
    };

    await pause(1500);
    assert.ok((await terminateKilnBackends()) > 0, "Kiln had backends to terminate");
    await pause(1500);
    await cluster.restart("fast");
    await pause(2500);
    await cluster.restart("immediate");
    await pause(2500);
    loading = false;
    await load;

    for (const p of procs) {
      assert.equal(p.child.exitCode, null, `a Kiln process exited:\n${p.output().slice(-3000)}`);
      assert.equal(p.child.signalCode, null, `a Kiln process was killed:\n${p.output().slice(-3000)}`);
    }
    for (const code of refusals.keys())
      assert.match(code, /^503 STORE_UNAVAILABLE retryable=true$/, `unexpected refusal ${code}`);
    assert.ok(acknowledged.length > 20, `enough runs were started (${acknowledged.length})`);

    const store = await openStore(cluster.url);
    try {
      let statuses = "";
      await eventually(async () => {
        const runs = await Promise.all(acknowledged.map((id) => store.getRun({ namespace: "default", id })));
        const counts = new Map<string, number>();
        for (const r of runs) counts.set(r?.status ?? "missing", (counts.get(r?.status ?? "missing") ?? 0) + 1);
        statuses = JSON.stringify([...counts]);
        return runs.every((r) => r?.status === "completed") ? true : undefined;
      }, 60_000).catch((error) => {
        throw new Error(`${error.message}: ${statuses}\n${procs.map((p) => p.output().slice(-1500)).join("\n---\n")}`);
      });
      for (const id of acknowledged) {
        const run = await store.getRun({ namespace: "default", id });
        assert.ok(run?.output && typeof (run.output as { n?: unknown }).n === "number", `run ${id} has its output`);
      }
    } finally {
      await store.close();
    }
    for (const p of procs) assert.equal(p.child.exitCode, null, `a Kiln process exited:\n${p.output().slice(-3000)}`);
  });
});
