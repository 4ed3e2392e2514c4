/**
 * Worker kills: SIGKILLs at random moments of multi-step JS workflows and of script tasks built
 * of `kiln step`s, every step appending to a side-effect log (kill-project.ts). On SQLite the
 * whole `kiln dev` is killed and restarted; on PostgreSQL two `kiln server`s serve two remote
 * `kiln worker`s, which are killed and restarted under the same name. Zero lost runs, zero steps
 * recorded twice; re-executions are counted and bounded by kills × concurrency (each kill can
 * interrupt at most one step per run in flight). Bounded size here; `KILN_RELIABILITY_FULL=1`
 * does 100 kills over 500 runs. Prints its figures.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { startThrowawayPostgres, type ThrowawayPostgres } from "../support/postgres-cluster.mjs";
import { postgresSkip } from "../support/test-db.ts";
import { createWorkerToken } from "../support/worker-token.ts";
import { type KilnProcess, kiln } from "../e2e/cli-support.ts";
import { FULL } from "./hostile-input.ts";
import { startSlowKiln } from "./slow-start.ts";
import { checkKillOutcome, type RunView, writeKillProject } from "./kill-project.ts";

const RUNS = FULL ? 500 : 10;
const KILLS = FULL ? 100 : 2;
const CONCURRENCY = 8;
// Full size: steps are slowed down (×8 on SQLite, ×12 with the PostgreSQL pair, where one worker
// keeps working while the other restarts) so the 500 runs outlast the 100 kills.
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Started {
  readonly id: string;
  readonly key: string;
}

/** Starts RUNS runs, half workflows, half script tasks, through the given servers. */
async function startRuns(urls: readonly string[], token: string | undefined): Promise<Started[]> {
  const started: Started[] = [];
  for (let i = 0; i < RUNS; i++) {
    const key = `k${i}-${Date.now()}`;
    const body =
      i % 2 === 0
        ? { type: "workflow", name: "chain", input: { id: key } }
        : { type: "task", name: "steps", input: { id: key } };
    const res = await fetch(`${urls[i % urls.length]}/v1/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const run = (await res.json()) as { id: string };
    assert.equal(res.status, 201, JSON.stringify(run));
    started.push({ id: run.id, key: i % 2 === 0 ? key : run.id });
  }
  return started;
}

/**
 * Reads a run through the API. A 429 (the server's per-token rate limit: the checks below read
 * hundreds of runs a second) waits its Retry-After and asks again; any other error answer throws,
 * so it is never mistaken for a run.
 */
function getRunVia(url: () => string, token: string | undefined) {
  return async (id: string): Promise<RunView> => {
    for (;;) {
      const res = await fetch(`${url()}/v1/runs/${id}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (res.status === 429) {
        await pause(1000 * Number(res.headers.get("retry-after") ?? 1));
        continue;
      }
      if (!res.ok) throw new Error(`GET /v1/runs/${id}: ${res.status} ${await res.text()}`);
      return (await res.json()) as RunView;
    }
  };
}

const TERMINAL = ["completed", "failed", "cancelled", "timed_out"];
/** Runs seen ended, per list of started runs: they are not read again. */
const seenEnded = new WeakMap<readonly Started[], Map<string, string>>();

async function allDone(
  getRun: ReturnType<typeof getRunVia>,
  started: readonly Started[],
): Promise<{ open: number; failed: number }> {
  const ended = seenEnded.get(started) ?? new Map<string, string>();
  seenEnded.set(started, ended);
  let open = 0;
  let failed = 0;
  for (const { id } of started) {
    let status = ended.get(id);
    if (status === undefined) {
      const run = await getRun(id).catch(() => undefined);
      if (run !== undefined && TERMINAL.includes(run.status)) ended.set(id, run.status);
      status = run?.status;
    }
    if (status === undefined || !TERMINAL.includes(status)) open++;
    else if (status !== "completed") failed++;
  }
  return { open, failed };
}

/**
 * Waits until every started run has ended, printing how many are open each minute; on timeout
 * the error names the runs still open with their status, attempt and lease owner.
 */
async function waitAllDone(
  getRun: ReturnType<typeof getRunVia>,
  started: readonly Started[],
  label: string,
): Promise<void> {
  const deadline = Date.now() + (FULL ? 1_800_000 : 600_000);
  let lastReport = Date.now();
  for (;;) {
    const { open } = await allDone(getRun, started);
    if (open === 0) return;
    if (Date.now() - lastReport >= 60_000) {
      console.log(`worker-kills ${label}: ${open} of ${started.length} runs still open`);
      lastReport = Date.now();
    }
    if (Date.now() > deadline) {
      const views: string[] = [];
      for (const { id } of started) {
        const run = (await getRun(id).catch(() => undefined)) as
          | (RunView & { attempt?: number; leaseOwner?: string | null })
          | undefined;
        if (run !== undefined && TERMINAL.includes(run.status)) continue;
        views.push(`${id} ${run?.status ?? "missing"} attempt=${run?.attempt} lease=${run?.leaseOwner}`);
      }
      throw new Error(`${views.length} runs still open: ${views.slice(0, 10).join("; ")}`);
    }
    await pause(2000);
  }
}

describe("worker kills", { timeout: FULL ? 5_400_000 : 1_800_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it(`SQLite: ${KILLS} SIGKILLs of kiln dev over ${RUNS} runs lose nothing and record no step twice`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-kills-sqlite-"));
    const { log } = writeKillProject(dir, CONCURRENCY, FULL ? 8 : 1);
    let dev: KilnProcess = await startSlowKiln(["dev", "--port", "0"], dir);
    cleanups.push(async () => {
      await dev.stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    });
    const getRun = getRunVia(() => dev.url, undefined);
    const started = await startRuns([dev.url], undefined);
    const loadBefore = loadavg()[0] ?? 0;
    let kills = 0;
    const recoveries: number[] = [];
    while (kills < KILLS && (await allDone(getRun, started)).open > 0) {
      await pause(300 + Math.random() * 1500);
      await dev.stop("SIGKILL");
      kills++;
      const t0 = Date.now();
      dev = await startSlowKiln(["dev", "--port", "0"], dir);
      recoveries.push(Date.now() - t0);
    }
    await waitAllDone(getRun, started, "sqlite");
    const figures = await checkKillOutcome(getRun, started, log);
    console.log(
      `worker-kills sqlite: kills=${kills} ${JSON.stringify(figures)} restart_ms_max=${Math.max(0, ...recoveries)} load=${loadBefore.toFixed(1)}`,
    );
    assert.equal(figures.lost, 0);
    assert.equal(figures.stepsRecordedTwice, 0);
    assert.ok(
      figures.reExecutions <= kills * CONCURRENCY,
      `re-executions ${figures.reExecutions} > kills × concurrency`,
    );
  });

  it(`PostgreSQL: ${KILLS} SIGKILLs of remote workers behind two servers over ${RUNS} runs lose nothing`, {
    skip: postgresSkip(),
  }, async () => {
    const cluster: ThrowawayPostgres = await startThrowawayPostgres();
    const dir = mkdtempSync(join(tmpdir(), "kiln-kills-pg-"));
    const procs: KilnProcess[] = [];
    cleanups.push(async () => {
      for (const p of procs) await p.stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      await cluster.stop();
    });
    const { log, workflowFile } = writeKillProject(dir, CONCURRENCY / 2, FULL ? 12 : 1);
    const servers: KilnProcess[] = [];
    for (const name of ["a", "b"]) {
      const server = await startSlowKiln(
        ["server", "--db", cluster.url, "--port", "0", "--data", join(dir, name)],
        dir,
      );
      procs.push(server);
      servers.push(server);
    }
    const urls = servers.map((s) => s.url);
    const adminToken = readFileSync(join(dir, "a", "admin-token"), "utf8").trim();
    const admin = ["--server", urls[0] as string, "--token", adminToken];
    assert.equal((await kiln([...admin, "deploy", "chain", "-f", workflowFile])).code, 0);
    const workerToken = await createWorkerToken(urls[0] as string, adminToken);
    const workerArgs = (i: number) => [
      ...["worker", "--server", urls[i % 2] as string, "--token", workerToken],
      ...["--name", `kw${i}`, "--concurrency", String(CONCURRENCY / 2), "--data", join(dir, `w${i}`)],
    ];
    const workers: KilnProcess[] = [await startSlowKiln(workerArgs(0), dir), await startSlowKiln(workerArgs(1), dir)];
    procs.push(...workers);
    const getRun = getRunVia(() => urls[0] as string, adminToken);
    const started = await startRuns(urls, adminToken);
    const loadBefore = loadavg()[0] ?? 0;
    let kills = 0;
    while (kills < KILLS && (await allDone(getRun, started)).open > 0) {
      await pause(300 + Math.random() * 1500);
      const i = kills % 2;
      await workers[i]?.stop("SIGKILL");
      kills++;
      const next = await startSlowKiln(workerArgs(i), dir);
      workers[i] = next;
      procs.push(next);
    }
    await waitAllDone(getRun, started, "postgres");
    const figures = await checkKillOutcome(getRun, started, log);
    console.log(`worker-kills postgres: kills=${kills} ${JSON.stringify(figures)} load=${loadBefore.toFixed(1)}`);
    assert.equal(figures.lost, 0);
    assert.equal(figures.stepsRecordedTwice, 0);
    assert.ok(
      figures.reExecutions <= kills * CONCURRENCY,
      `re-executions ${figures.reExecutions} > kills × concurrency`,
    );
  });
});
