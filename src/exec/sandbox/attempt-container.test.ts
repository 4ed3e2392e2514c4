/**
 * The container of a sandboxed attempt is killed and removed by name, on the real engine
 * `kiln doctor` finds: what a stopped attempt relies on when its CLI's death leaves the container
 * running. Skipped, with the probe's reason, only where no engine can run a container.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { AttemptContainer } from "./attempt-container.ts";
import { MEMORY_MARKER } from "./container-argv.ts";
import { probeContainerEngine } from "./isolation-probe.ts";

const exec = promisify(execFile);

describe("the container of an attempt", () => {
  test("remove() kills and removes a running container, detached from any CLI", async (t) => {
    const engine = probeContainerEngine();
    if (engine.engine === null || engine.podman !== true) {
      return t.skip(`needs podman running the host's root: ${engine.detail}`);
    }
    const cli = [...(engine.cliArgs ?? [])];
    const name = `kiln-test-${process.pid}-${Date.now().toString(36)}`;
    // Detached (-d): no CLI stays attached, as after the attempt's CLI was killed.
    const run = [...cli, "run", "-d", "--rm", "--init", "--name", name, ...(engine.runArgs ?? [])];
    await exec(engine.engine, [...run, "--network=none", "--rootfs", "/:O", "sleep", "300"]);
    const names = async () =>
      (await exec(engine.engine as string, [...cli, "ps", "-a", "--format", "{{.Names}}"])).stdout.split("\n");
    assert.ok((await names()).includes(name), "the container runs");
    const dir = mkdtempSync(join(tmpdir(), "kiln-container-"));
    try {
      const container = new AttemptContainer({ engine: engine.engine, cliArgs: cli, name, attemptDir: dir });
      assert.equal(container.memoryLimitHit(), false);
      writeFileSync(join(dir, MEMORY_MARKER), "");
      assert.equal(container.memoryLimitHit(), true, "the wrapper's marker reports the memory kill");
      await container.remove();
      assert.ok(!(await names()).includes(name), "no container is left");
      await container.remove(); // a second removal (the container is gone) is harmless
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
