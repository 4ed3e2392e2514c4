/**
 * A remote `kiln worker` claims the first run of a workflow deployed after it started without
 * waiting out its claim long-poll (25 s): the deploy wakes the waiting claim, the worker drops its
 * cached workflow names and claims again.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CLAIM_LONG_POLL_MS, deployAndRunFresh, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

describe("remote worker and a new deployment", { timeout: 180_000 }, () => {
  let dir: string;
  const procs: KilnProcess[] = [];
  let admin: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-deploy-notify-"));
    writeFileSync(join(dir, "kiln.yaml"), "worker: { name: remote-worker, queue: default, concurrency: 2 }\n");
    const server = await startKiln(
      ["server", "--db", join(dir, "kiln.db"), "--port", "0", "--data", join(dir, "data")],
      dir,
    );
    procs.push(server);
    admin = ["--server", server.url, "--token", readFileSync(join(dir, "data", "admin-token"), "utf8").trim()];
    const created = await kiln([...admin, "tokens", "create", "--name", "w", "--role", "worker", "--json"]);
    assert.equal(created.code, 0, created.err);
    const token = (created.json() as { token: string }).token;
    procs.push(await startKiln(["worker", "--server", server.url, "--token", token, "--data", join(dir, "w")], dir));
  });

  after(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs the first run of a workflow deployed after the worker started, before its long-poll ends", async () => {
    // Let the worker's first claim (with no deployed names) settle into its long-poll.
    await new Promise((r) => setTimeout(r, 1500));
    const tookMs = await deployAndRunFresh(dir, admin);
    // Without the wake-up the claim waits out the long-poll with the old names (~22 s measured).
    assert.ok(tookMs < CLAIM_LONG_POLL_MS - 5000, `the first run took ${tookMs} ms`);
  });
});
