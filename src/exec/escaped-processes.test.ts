/**
 * Processes that leave the script's process group (setsid) are still killed when the attempt is
 * stopped, and a killed worker's scripts die with it (issue 20.3).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { pidAlive, runInTest } from "../../tests/support/exec-helpers.ts";

const temp = mkdtempSync(join(tmpdir(), "kiln-escape-"));
after(() => rmSync(temp, { recursive: true, force: true }));

async function gone(pid: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await delay(50);
  }
  return !pidAlive(pid);
}

describe("a setsid child does not survive its attempt", () => {
  for (const stdio of ["inherited pipes", "redirected to /dev/null"] as const) {
    test(`timeout kills a setsid escapee (${stdio})`, async () => {
      const pidFile = join(temp, `setsid-${stdio.length}.pid`);
      const redirect = stdio === "inherited pipes" ? "" : " >/dev/null 2>&1";
      const { result } = await runInTest({
        command: "bash",
        args: ["-c", `setsid sleep 1000${redirect} & echo $! > "$PID_FILE"; sleep 1000`],
        env: { PID_FILE: pidFile },
        timeout_seconds: 0.5,
        grace_period_seconds: 0.2,
      });
      assert.equal(result.error?.code, "EXEC_TIMEOUT");
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      assert.ok(pid > 0);
      assert.ok(await gone(pid, 3000), `setsid'd sleep ${pid} survived the attempt`);
    });
  }
});

describe("scripts do not outlive a SIGKILLed worker", () => {
  test("the worker's watchdog kills its scripts when the worker dies", async () => {
    const pidFile = join(temp, "orphan.pid");
    const program = join(temp, "worker.mts");
    writeFileSync(
      program,
      `import { runInTest } from ${JSON.stringify(new URL("../../tests/support/exec-helpers.ts", import.meta.url).pathname)};
await runInTest({ command: "bash", args: ["-c", "setsid sleep 1000 & echo $! > \\"$PID_FILE\\"; sleep 1000"], env: { PID_FILE: ${JSON.stringify(pidFile)} } });
`,
    );
    const worker = spawn(process.execPath, ["--import", "tsx", program], { stdio: "ignore" });
    let pid = 0;
    const deadline = Date.now() + 20_000;
    while (pid === 0 && Date.now() < deadline) {
      try {
        pid = Number(readFileSync(pidFile, "utf8").trim());
      } catch {
        await delay(50);
      }
    }
    assert.ok(pid > 0, "the script started");
    await delay(200);
    assert.ok(pidAlive(pid));
    worker.kill("SIGKILL");
    assert.ok(await gone(pid), `script process ${pid} outlived its SIGKILLed worker`);
  });
});
