/**
 * A remote `kiln worker` SIGKILLed mid-run and started again under the same name on the same
 * machine takes its run back at once, instead of waiting for the lease of its dead predecessor
 * to expire (30 s): the run completes before that lease would have run out.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

describe("a restarted worker reclaims its own leases", { timeout: 120_000 }, () => {
  let dir: string;
  const procs: KilnProcess[] = [];
  let server: KilnProcess;
  let adminToken: string;
  let workerArgs: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-worker-restart-"));
    writeFileSync(join(dir, "slow.sh"), "sleep 2\necho '{\"ok\": true}'\n");
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker: { queue: default, concurrency: 2 }
tasks:
  - kind: slow
    command: bash
    args: ["slow.sh"]
    output_format: json_stdout
`,
    );
    server = await startKiln(["server", "--port", "0", "--data", join(dir, "srv")], dir);
    procs.push(server);
    adminToken = readFileSync(join(dir, "srv", "admin-token"), "utf8").trim();
    const created = await kiln([
      ...["--server", server.url, "--token", adminToken],
      ...["tokens", "create", "--name", "workers", "--role", "worker", "--json"],
    ]);
    assert.equal(created.code, 0, created.err);
    const token = (created.json() as { token: string }).token;
    workerArgs = ["worker", "--server", server.url, "--token", token, "--name", "w-restart", "--data", join(dir, "wk")];
  });

  after(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  const getRun = async (id: string): Promise<Run> => {
    const res = await fetch(`${server.url}/v1/runs/${id}`, { headers: { authorization: `Bearer ${adminToken}` } });
    return (await res.json()) as Run;
  };

  it("completes the run before the dead process's lease expires", async () => {
    const first = await startKiln(workerArgs, dir);
    procs.push(first);
    const res = await fetch(`${server.url}/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "task", name: "slow" }),
    });
    assert.equal(res.status, 201);
    const { id } = (await res.json()) as Run;
    const leased = await eventually(async () => {
      const run = await getRun(id);
      return run.status === "running" && run.leaseOwner === "w-restart" ? run : undefined;
    });
    await first.stop("SIGKILL");
    const leaseEnd = (await getRun(id)).leaseExpiresAt as number;
    assert.ok(leaseEnd >= (leased.leaseExpiresAt as number));
    procs.push(await startKiln(workerArgs, dir));
    const done = await eventually(async () => {
      const run = await getRun(id);
      return run.status === "completed" ? run : undefined;
    }, 60_000);
    assert.deepEqual(done.output, { ok: true });
    assert.ok(
      (done.finishedAt as number) < leaseEnd,
      `finished at ${done.finishedAt}, after the old lease's expiry ${leaseEnd}: the run waited for it`,
    );
  });
});
