/**
 * Two machines' worth of Kiln on PostgreSQL: `kiln server` processes sharing one database and
 * remote `kiln worker` processes talking HTTP with a worker token. Driven through the CLI; then
 * SIGKILLs a server under load and a worker mid-step: nothing is lost, every run completes once.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import type { Run } from "../../src/engine/run.ts";
import { openStore } from "../../src/store/open-store.ts";
import { postgresSkip } from "../support/test-db.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const pgUrl = process.env.KILN_TEST_DATABASE_URL ?? "";

describe("kiln server + kiln worker on PostgreSQL", { skip: postgresSkip(), timeout: 420_000 }, () => {
  const schema = `kiln_e2e_${process.pid}_${Date.now()}`;
  const dbUrl = `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}`;
  let dir: string;
  const procs: KilnProcess[] = [];
  let serverA: KilnProcess;
  let serverB: KilnProcess;
  let admin: string[];
  let workerToken: string;

  const workerArgs = (server: KilnProcess, name: string) => [
    "worker",
    "--server",
    server.url,
    "--token",
    workerToken,
    "--name",
    name,
    "--concurrency",
    "8",
  ];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-cli-pg-"));
    writeFileSync(join(dir, "slow-echo.sh"), 'sleep 0.2\nprintf \'{"n": %s}\\n\' "$INPUT_N"\n');
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker: { name: pg-worker, queue: default, concurrency: 8 }
tasks:
  - kind: slow-echo
    command: bash
    args: ["slow-echo.sh"]
    input_format: env
    output_format: json_stdout
`,
    );
    writeFileSync(
      join(dir, "pipeline.js"),
      `async function workflow(input, { step, task }) {
  let total = 0;
  for (let i = 0; i < 5; i++) {
    total = await step("add", async () => {
      await new Promise((r) => setTimeout(r, 20));
      return total + input.n;
    });
  }
  const echoed = await task("slow-echo", { n: input.n });
  return { total, echoed };
}
`,
    );
    serverA = await startKiln(["server", "--db", dbUrl, "--port", "0", "--data", join(dir, "a")], dir);
    procs.push(serverA);
    serverB = await startKiln(["server", "--db", dbUrl, "--port", "0", "--data", join(dir, "b")], dir);
    procs.push(serverB);
    const adminToken = readFileSync(join(dir, "a", "admin-token"), "utf8").trim();
    admin = ["--server", serverA.url, "--token", adminToken];
    const created = await kiln([...admin, "tokens", "create", "--name", "workers", "--role", "worker", "--json"]);
    assert.equal(created.code, 0, created.err);
    workerToken = (created.json() as { token: string }).token;
    procs.push(await startKiln(workerArgs(serverA, "worker-a"), dir));
    procs.push(await startKiln(workerArgs(serverB, "worker-b"), dir));
  });

  after(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it("deploys, starts, runs, lists and reports through either server", async () => {
    assert.equal((await kiln([...admin, "deploy", "pipeline", "-f", join(dir, "pipeline.js")])).code, 0);
    const viaB = ["--server", serverB.url, "--token", admin[3] as string];
    const run = (await kiln([...viaB, "start", "pipeline", "-i", '{"n":3}', "--wait", "--json"])).json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { total: 15, echoed: { n: 3 } });
    const task = (await kiln([...admin, "run", "slow-echo", "-i", '{"n":5}', "--wait", "--json"])).json() as Run;
    assert.deepEqual(task.output, { n: 5 });
    const workers = await kiln([...admin, "list", "workers", "--json"]);
    const names = (workers.json() as { items: { name: string }[] }).items.map((w) => w.name).sort();
    assert.deepEqual(names, ["worker-a", "worker-b"]);
    const tasks = await kiln([...admin, "list", "tasks"]);
    assert.match(tasks.out, /slow-echo/);
  });

  it("survives SIGKILL of a server under load and of a worker mid-step: every run completes once", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const via = i % 2 === 0 ? admin : ["--server", serverB.url, "--token", admin[3] as string];
      const r = await kiln([
        ...via,
        "start",
        "pipeline",
        "-i",
        JSON.stringify({ n: i }),
        "--idempotency-key",
        `load-${i}`,
      ]);
      assert.equal(r.code, 0, r.err);
      ids.push(r.out.trim());
    }
    await new Promise((r) => setTimeout(r, 400));
    // Kill server A (its worker keeps retrying), and worker B mid-step; restart both.
    const portA = new URL(serverA.url).port;
    await serverA.stop("SIGKILL");
    const workerB = procs[3] as KilnProcess;
    await workerB.stop("SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    serverA = await startKiln(["server", "--db", dbUrl, "--port", portA, "--data", join(dir, "a")], dir);
    procs.push(serverA);
    procs.push(await startKiln(workerArgs(serverB, "worker-b2"), dir));

    const store = await openStore(dbUrl);
    try {
      const runs = await eventually(async () => {
        const all = await Promise.all(ids.map((id) => store.getRun({ namespace: "default", id })));
        return all.every((r) => r?.status === "completed") ? all : undefined;
        // Generous: under a loaded CI machine the killed server's worker backs off before it reconnects.
      }, 240_000);
      for (const [i, run] of runs.entries()) {
        assert.deepEqual(run?.output, { total: 5 * i, echoed: { n: i } });
        const steps = await store.listSteps({ runId: run?.id ?? "" });
        assert.deepEqual(
          steps.map((s) => s.name),
          ["add", "add#2", "add#3", "add#4", "add#5", "task:slow-echo"],
        );
      }
      const children = await store.listRuns({ namespace: "default", type: "task", name: "slow-echo", limit: 1000 });
      const perParent = new Map<string, number>();
      for (const c of children.runs) perParent.set(c.parentRunId ?? "", (perParent.get(c.parentRunId ?? "") ?? 0) + 1);
      for (const id of ids) assert.equal(perParent.get(id), 1, `run ${id} has exactly one child task run`);
    } finally {
      await store.close();
    }
  });
});
