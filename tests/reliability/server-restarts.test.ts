/**
 * Server kills and PostgreSQL restarts during load: two `kiln server`s and two remote `kiln
 * worker`s (one per server) on a durable throwaway cluster, clients starting runs through both
 * servers the whole time. Each cycle SIGKILLs server A and restarts it on its port, does the same
 * to server B, then restarts PostgreSQL with `pg_ctl restart -m fast` and with `-m immediate`.
 * Workers and servers must reconnect on their own (no worker is restarted, no process may exit),
 * every acknowledged (201) start must complete, and each disruption's recovery time (until a run
 * started after it has completed) is reported. Bounded: one cycle; `KILN_RELIABILITY_FULL=1`: 5.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openStore } from "../../src/store/open-store.ts";
import { eventually, type KilnProcess } from "../e2e/cli-support.ts";
import { createWorkerToken } from "../support/worker-token.ts";
import { writeEchoProject } from "../support/echo-project.ts";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../support/postgres-cluster.mjs";
import { postgresSkip } from "../support/test-db.ts";
import { FULL } from "./hostile-input.ts";
import { startSlowKiln } from "./slow-start.ts";

const CYCLES = FULL ? 5 : 1;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("server kills and PostgreSQL restarts under load", { skip: postgresSkip(), timeout: 1_800_000 }, () => {
  let cluster: ThrowawayPostgres;
  let dir: string;
  const servers: KilnProcess[] = [];
  const workers: KilnProcess[] = [];
  const ports: string[] = [];
  let adminToken: string;

  const serverArgs = (name: string, port: string) => [
    ...["server", "--db", cluster.url, "--port", port, "--data", join(dir, name)],
  ];

  before(async () => {
    cluster = await startThrowawayPostgres({ durable: true });
    dir = mkdtempSync(join(tmpdir(), "kiln-server-restarts-"));
    writeEchoProject(dir, "restarts-worker");
    for (const name of ["a", "b"]) {
      const server = await startSlowKiln(serverArgs(name, "0"), dir);
      servers.push(server);
      ports.push(new URL(server.url).port);
    }
    adminToken = readFileSync(join(dir, "a", "admin-token"), "utf8").trim();
    const workerToken = await createWorkerToken(servers[0]?.url ?? "", adminToken);
    for (const [i, server] of servers.entries()) {
      workers.push(
        await startSlowKiln(
          ["worker", "--server", server.url, "--token", workerToken, "--name", `rw${i}`, "--concurrency", "4"],
          dir,
        ),
      );
    }
  });

  after(async () => {
    for (const p of [...servers, ...workers]) await p.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    await cluster?.stop();
  });

  const headers = () => ({ authorization: `Bearer ${adminToken}`, "content-type": "application/json" });

  /** Starts one run through a server; its id when acknowledged (201), else undefined. */
  async function start(url: string, n: number, priority = 0): Promise<string | undefined> {
    try {
      const res = await fetch(`${url}/v1/runs`, {
        method: "POST",
        headers: headers(),
        body: JSON.stringify({ type: "task", name: "echo-n", input: { n }, priority }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await res.json()) as { id?: string };
      return res.status === 201 ? body.id : undefined;
    } catch {
      return undefined; // No answer: nothing was acknowledged, nothing is owed.
    }
  }

  /** Milliseconds from `since` until a run started through `url` after now has completed. */
  async function recovery(url: () => string, since: number): Promise<number> {
    // First in line: the time measured is the system's coming back, not the backlog the load left.
    const id = await eventually(() => start(url(), -1, 100), 120_000);
    await eventually(async () => {
      const res = await fetch(`${url()}/v1/runs/${id}`, { headers: headers() }).catch(() => undefined);
      const run = res?.ok ? ((await res.json()) as { status: string }) : undefined;
      return run?.status === "completed" ? true : undefined;
    }, 120_000);
    return Date.now() - since;
  }

  /** One cycle: SIGKILL and restart each server, then restart PostgreSQL fast and immediate. */
  async function disruptionCycle(recoveries: Record<string, number[]>): Promise<void> {
    for (const i of [0, 1]) {
      await pause(1000);
      await servers[i]?.stop("SIGKILL");
      const t0 = Date.now();
      servers[i] = await startSlowKiln(serverArgs(i === 0 ? "a" : "b", ports[i] as string), dir);
      recoveries[`kill server ${i === 0 ? "a" : "b"}`]?.push(await recovery(() => servers[i]?.url ?? "", t0));
    }
    for (const mode of ["fast", "immediate"] as const) {
      await pause(1000);
      const t0 = Date.now();
      await cluster.restart(mode);
      // Through both servers: each one's pool and each one's worker must have come back.
      const a = await recovery(() => servers[0]?.url ?? "", t0);
      const b = await recovery(() => servers[1]?.url ?? "", t0);
      recoveries[mode]?.push(Math.max(a, b));
    }
  }

  it(`reconnects on its own and completes every acknowledged run over ${CYCLES} cycle(s)`, async () => {
    const acknowledged: string[] = [];
    let attempts = 0;
    let loading = true;
    const recoveries: Record<string, number[]> = { "kill server a": [], "kill server b": [], fast: [], immediate: [] };
    const load = (async () => {
      for (let i = 0; loading; i++) {
        attempts++;
        const id = await start(servers[i % 2]?.url ?? "", i);
        if (id) acknowledged.push(id);
        await pause(50);
      }
    })();
    const load0 = loadavg()[0] ?? 0;
    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) await disruptionCycle(recoveries);
    } finally {
      // Stop the load even when a cycle failed, or its loop would keep the test file alive.
      loading = false;
      await load;
    }
    for (const w of workers) {
      assert.equal(w.child.exitCode, null, `a worker exited:\n${w.output().slice(-3000)}`);
      assert.equal(w.child.signalCode, null, `a worker was killed:\n${w.output().slice(-3000)}`);
    }
    for (const s of servers) assert.equal(s.child.exitCode, null, `a server exited:\n${s.output().slice(-3000)}`);

    const store = await openStore(cluster.url);
    let lost = 0;
    try {
      await eventually(async () => {
        const runs = await Promise.all(acknowledged.map((id) => store.getRun({ namespace: "default", id })));
        lost = runs.filter((r) => r === undefined).length;
        return runs.every((r) => r === undefined || r.status === "completed") ? true : undefined;
      }, 300_000);
    } finally {
      await store.close();
    }
    const max = (xs: readonly number[]) => (xs.length === 0 ? 0 : Math.max(...xs));
    console.log(
      `server-restarts: cycles=${CYCLES} attempts=${attempts} acknowledged=${acknowledged.length} lost=${lost} recovery_ms_max=${JSON.stringify(Object.fromEntries(Object.entries(recoveries).map(([k, v]) => [k, max(v)])))} load=${load0.toFixed(1)}`,
    );
    assert.equal(lost, 0, "acknowledged runs are missing");
    assert.ok(acknowledged.length > 10, `enough runs were started (${acknowledged.length})`);
  });
});
