import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { KilnError } from "../errors.ts";
import { fixture, memoryTaskContext, pidAlive, psGroup, runInTest } from "../../tests/support/exec-helpers.ts";

const temp = mkdtempSync(join(tmpdir(), "kiln-kill-"));
after(() => rmSync(temp, { recursive: true, force: true }));
let files = 0;
const tempFile = (name: string) => join(temp, `${name}-${++files}`);

function assertNoOrphans(pgid: number | null, backgroundPidFile?: string): void {
  assert.ok(pgid !== null);
  assert.deepEqual(psGroup(pgid), [], `processes left in group ${pgid}`);
  if (backgroundPidFile) {
    const pid = Number(readFileSync(backgroundPidFile, "utf8").trim());
    assert.ok(pid > 0);
    assert.equal(pidAlive(pid), false, `background sleep ${pid} survived`);
  }
}

describe("timeouts kill the whole process group", () => {
  test("a timeout against a script that backgrounds `sleep 300`: nothing survives", async () => {
    const pidFile = tempFile("bg");
    const { result } = await runInTest({
      command: fixture("background.sh"),
      args: [pidFile, "wait"],
      timeout_seconds: 0.5,
    });
    assert.equal(result.verdict, "retry");
    assert.equal(result.timedOut, true);
    assert.equal(result.error?.code, "EXEC_TIMEOUT");
    assert.equal(result.error?.retryable, true);
    assert.match(
      result.error?.message ?? "",
      /^test-kind timed out after 500ms; its process group got SIGTERM and exited$/,
    );
    assert.equal(result.signal, "SIGTERM");
    assertNoOrphans(result.pid, pidFile);
  });

  test("a script that exits leaving a background child (even with nohup): the child is killed", async () => {
    for (const mode of ["exit", "nohup"]) {
      const pidFile = tempFile(`bg-${mode}`);
      const started = performance.now();
      const { result } = await runInTest({ command: fixture("background.sh"), args: [pidFile, mode] });
      assert.equal(result.verdict, "success", mode);
      assert.ok(performance.now() - started < 3000, "the run does not wait for the background child");
      assertNoOrphans(result.pid, pidFile);
    }
  });

  test("timeout_action: signal honours the grace period (the script cleans up on SIGTERM)", async () => {
    const cleaned = tempFile("cleaned");
    const { result } = await runInTest({
      command: fixture("term-cleanup.sh"),
      args: [cleaned],
      timeout_seconds: 0.3,
      grace_period_seconds: 5,
    });
    assert.equal(result.timedOut, true);
    assert.equal(readFileSync(cleaned, "utf8").trim(), "cleaned");
    assert.equal(result.exitCode, 143);
    assert.ok(result.durationMs < 3000);
    assertNoOrphans(result.pid);
  });

  test("a group that ignores SIGTERM gets SIGKILL after the grace period", async () => {
    const { result } = await runInTest({
      command: fixture("ignore-term.sh"),
      timeout_seconds: 0.3,
      grace_period_seconds: 0.5,
    });
    assert.equal(result.timedOut, true);
    assert.equal(result.signal, "SIGKILL");
    assert.ok(result.durationMs >= 750 && result.durationMs < 3000, `took ${result.durationMs}ms`);
    assert.match(result.error?.message ?? "", /got SIGTERM, then SIGKILL after the 500ms grace period$/);
    assertNoOrphans(result.pid);
  });

  test("timeout_action: kill sends SIGKILL at once (no cleanup runs)", async () => {
    const cleaned = tempFile("not-cleaned");
    const { result } = await runInTest({
      command: fixture("term-cleanup.sh"),
      args: [cleaned],
      timeout_seconds: 0.3,
      timeout_action: "kill",
    });
    assert.equal(result.signal, "SIGKILL");
    assert.equal(existsSync(cleaned), false);
    assert.match(result.error?.message ?? "", /its process group was killed \(SIGKILL\)$/);
    assertNoOrphans(result.pid);
  });

  test("retry_on_timeout: false makes a timeout final; a Python script is killed too", async () => {
    const { result } = await runInTest({
      command: fixture("sleep-forever.py"),
      timeout_seconds: 0.3,
      retry_on_timeout: false,
    });
    assert.equal(result.verdict, "failure");
    assert.equal(result.error?.retryable, false);
    assert.equal(result.stdoutTail, "started");
    assertNoOrphans(result.pid);
  });

  test("the run's deadline stops the attempt before its own timeout, as RUN_TIMEOUT", async () => {
    const { result } = await runInTest(
      { command: fixture("sleep-forever.py"), timeout_seconds: 30 },
      { deadlineAt: Date.now() + 300 },
    );
    assert.equal(result.timedOut, true);
    assert.equal(result.error?.code, "RUN_TIMEOUT");
    assert.equal(result.error?.retryable, false);
    assertNoOrphans(result.pid);
  });
});

describe("heartbeat timeout", () => {
  test("a script silent for heartbeat_timeout_seconds fails while its timeout still runs", async () => {
    const { result } = await runInTest({
      command: fixture("heartbeat.sh"),
      args: ["5"],
      timeout_seconds: 30,
      heartbeat_timeout_seconds: 0.4,
    });
    assert.equal(result.heartbeatTimedOut, true);
    assert.equal(result.timedOut, false);
    assert.equal(result.error?.code, "EXEC_HEARTBEAT_TIMEOUT");
    assert.match(result.error?.message ?? "", /went silent for 400ms \(heartbeat_timeout_seconds\)/);
    assert.ok(result.durationMs < 2000, `took ${result.durationMs}ms`);
    assertNoOrphans(result.pid);
  });

  test("::heartbeat:: keeps a quiet script alive and reaches the task context", async () => {
    const ctx = memoryTaskContext();
    const { result } = await runInTest(
      { command: fixture("heartbeat.sh"), args: ["1"], env: { HEARTBEAT: "1" }, heartbeat_timeout_seconds: 0.4 },
      { ctx },
    );
    assert.equal(result.verdict, "success");
    assert.ok(ctx.heartbeats >= 5, `${ctx.heartbeats} heartbeats`);
  });
});

describe("cancel through the AbortSignal", () => {
  test("abort stops the group with SIGTERM then SIGKILL; not retried by default", async () => {
    const ctx = memoryTaskContext();
    setTimeout(() => ctx.controller.abort("cancelled by user"), 300);
    const { result } = await runInTest({ command: fixture("ignore-term.sh"), grace_period_seconds: 0.3 }, { ctx });
    assert.equal(result.cancelled, true);
    assert.equal(result.verdict, "failure");
    assert.equal(result.error?.code, "RUN_CANCELLED");
    assert.match(result.error?.message ?? "", /cancelled by user/);
    assert.equal(result.signal, "SIGKILL");
    assertNoOrphans(result.pid);
  });

  test("a KilnError abort reason (lost lease) is kept as the error", async () => {
    const ctx = memoryTaskContext();
    setTimeout(() => ctx.controller.abort(new KilnError("LEASE_LOST", "The lease was lost")), 200);
    const { result } = await runInTest({ command: fixture("sleep-forever.py") }, { ctx });
    assert.equal(result.error?.code, "LEASE_LOST");
    assertNoOrphans(result.pid);
  });

  test("an already aborted signal starts nothing", async () => {
    const ctx = memoryTaskContext();
    ctx.controller.abort("worker stopping");
    const marker = tempFile("never");
    const { result } = await runInTest({ command: "touch", args: [marker] }, { ctx });
    await delay(50);
    assert.equal(result.pid, null);
    assert.equal(result.cancelled, true);
    assert.equal(existsSync(marker), false);
  });
});
