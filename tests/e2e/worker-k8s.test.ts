/**
 * `kiln worker` fit for Kubernetes, against a real `kiln server`: probes and metrics on
 * --health-port, config hot reload, and a drain on SIGTERM within `shutdown_timeout` — the test
 * asserts the order of events (stop claiming, scripts TERMed, exit), not their timings. Also: a
 * `kiln server` started in a worker's directory does not load its kiln.yaml.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

// Runs until TERMed; the trap writes when the TERM arrived (ns since the epoch) and exits.
const BUSY = `trap 'date +%s%N > "$MARK"; exit 143' TERM
echo started
sleep 600 & wait $!
`;

const config = (extra = "") => `worker: { queue: default, concurrency: 2, shutdown_timeout: 5s }
tasks:
  - kind: busy
    command: bash
    args: ["busy.sh"]
    grace_period_seconds: 3
    env: { MARK: "${"$"}{KILN_RUN_ID}.term" }
${extra}`;

describe("kiln worker for Kubernetes", { timeout: 180_000 }, () => {
  let dir: string;
  let server: KilnProcess;
  let worker: KilnProcess;
  let admin: string;
  let healthUrl: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-worker-k8s-"));
    writeFileSync(join(dir, "busy.sh"), BUSY);
    writeFileSync(join(dir, "kiln.yaml"), config());
    // The server runs in the worker's directory, whose kiln.yaml it must not load: this one
    // would not even load (regression: every server start read the cwd's config).
    mkdirSync(join(dir, "srv"));
    writeFileSync(join(dir, "srv", "kiln.yaml"), "not_a_kiln_key: 1\n");
    server = await startKiln(["server", "--port", "0", "--data", join(dir, "srv", "data")], join(dir, "srv"));
    admin = readFileSync(join(dir, "srv", "data", "admin-token"), "utf8").trim();
    const created = await kiln([
      ...["--server", server.url, "--token", admin],
      ...["tokens", "create", "--name", "workers", "--role", "worker", "--json"],
    ]);
    assert.equal(created.code, 0, created.err);
    const token = (created.json() as { token: string }).token;
    worker = await startKiln(
      [
        "worker",
        "--server",
        server.url,
        "--token",
        token,
        "--name",
        "k8s",
        "--health-port",
        "0",
        "--data",
        join(dir, "wk"),
      ],
      dir,
    );
    const port = /health on port (\d+)/.exec(worker.output())?.[1];
    assert.ok(port, worker.output());
    healthUrl = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    await worker?.stop("SIGKILL");
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const api = async (path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    });
  const start = async (name: string): Promise<string> => {
    const res = await api("/v1/runs", { method: "POST", body: JSON.stringify({ type: "task", name }) });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as Run).id;
  };
  const getRun = async (id: string) => (await (await api(`/v1/runs/${id}`)).json()) as Run;

  it("serves /healthz, /readyz and /metrics", async () => {
    assert.equal((await fetch(`${healthUrl}/healthz`)).status, 200);
    const ready = await fetch(`${healthUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: "ready", worker: "k8s" });
    const metrics = await (await fetch(`${healthUrl}/metrics`)).text();
    assert.match(metrics, /^kiln_worker_active_runs 0$/m);
    assert.match(metrics, /^kiln_worker_ready 1$/m);
    assert.match(metrics, /process_cpu_user_seconds_total/);
  });

  it("hot-reloads its config: a task kind added to kiln.yaml is announced to the server", async () => {
    writeFileSync(join(dir, "kiln.yaml"), config('  - kind: added\n    command: "true"\n'));
    await eventually(async () => {
      const kinds = (await (await api("/v1/tasks")).json()) as { items?: { kind: string }[] };
      return kinds.items?.some((k) => k.kind === "added") ? true : undefined;
    });
    const metrics = await (await fetch(`${healthUrl}/metrics`)).text();
    assert.match(metrics, /^kiln_worker_config_reloads_total\{outcome="ok"\} [1-9]/m);
  });

  it("drains on SIGTERM: stops claiming at once, TERMs scripts at shutdown_timeout, then exits", async () => {
    const busy = await start("busy");
    await eventually(async () => ((await getRun(busy)).status === "running" ? true : undefined));
    const events: { name: string; at: number }[] = [];
    const sawDrain = new Promise<void>((resolve) => {
      const check = () => {
        if (/Stopped claiming/.test(worker.output())) {
          events.push({ name: "stopped claiming", at: Date.now() });
          worker.child.stdout?.off("data", check);
          worker.child.stderr?.off("data", check);
          resolve();
        }
      };
      worker.child.stdout?.on("data", check);
      worker.child.stderr?.on("data", check);
    });
    const exited = new Promise<number | null>((resolve) =>
      worker.child.once("exit", (code) => {
        events.push({ name: "exit", at: Date.now() });
        resolve(code);
      }),
    );
    const sigtermAt = Date.now();
    worker.child.kill("SIGTERM");
    await sawDrain;
    // Not ready any more, while the busy script still runs.
    assert.equal((await fetch(`${healthUrl}/readyz`)).status, 503);
    // A run started now is not claimed by the draining worker.
    const late = await start("busy");
    assert.equal(await exited, 0, worker.output());
    const mark = join(dir, `${busy}.term`);
    assert.ok(existsSync(mark), `the script was not TERMed:\n${worker.output()}`);
    events.push({ name: "script TERMed", at: Math.round(Number(readFileSync(mark, "utf8").trim()) / 1e6) });
    events.sort((a, b) => a.at - b.at);
    assert.deepEqual(
      events.map((e) => e.name),
      ["stopped claiming", "script TERMed", "exit"],
    );
    const output = worker.output();
    assert.ok(output.indexOf("Stopped claiming") < output.indexOf("Shutdown timeout of 5000 ms reached"), output);
    assert.equal((await getRun(late)).status, "queued");
    assert.equal((await getRun(late)).leaseOwner, null);
    if (process.env.KILN_DEBUG_DRAIN) console.log(output, JSON.stringify(events), sigtermAt);
    // The figure for BENCHMARKS.md (not asserted: the machine is shared).
    console.log(`# busy kiln worker exit after SIGTERM: ${((events.at(-1)?.at ?? 0) - sigtermAt) / 1000} s`);
  });
});
