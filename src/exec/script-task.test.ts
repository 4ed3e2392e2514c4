import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../config/load-config.ts";
import { KilnError } from "../errors.ts";
import { RunParked, type TaskContext } from "../workflow/task-context.ts";
import { executeScriptTask, type ScriptTaskContext, scriptTaskHandler } from "./script-task.ts";
import type { ScriptResult } from "./script-result.ts";
import { fixture, kind, memoryRunStore, memoryTaskContext } from "../../tests/support/exec-helpers.ts";

// The worker passes its TaskContext as is: this line fails to compile if the contracts drift.
const asScriptContext = (ctx: TaskContext): ScriptTaskContext => ctx;

describe("executeScriptTask (what the worker calls)", () => {
  test("returns the output on success and reports the whole result", async () => {
    const ctx = memoryTaskContext({ input: { name: "Grace" } });
    let seen: ScriptResult | undefined;
    const output = await executeScriptTask(
      kind({ command: fixture("echo-json.sh"), output_format: "json_stdout" }),
      asScriptContext(ctx),
      { onResult: (r) => (seen = r) },
    );
    assert.deepEqual(output, { greeting: "hello Grace", attempt: 1 });
    assert.equal(seen?.verdict, "success");
  });

  test("retry codes throw a retryable KilnError with the failure details in data", async () => {
    const ctx = memoryTaskContext();
    const task = kind({ command: fixture("retry-exit.sh"), exit_codes: { retry: [75] } });
    await assert.rejects(executeScriptTask(task, ctx), (error: unknown) => {
      assert.ok(error instanceof KilnError);
      assert.equal(error.code, "EXEC_FAILED");
      assert.equal(error.retryable, true);
      assert.equal(error.data?.exitCode, 75);
      assert.equal(error.data?.signal, null);
      assert.equal(error.data?.stderrTail, "temporary failure on attempt 1");
      assert.ok(typeof error.data?.durationMs === "number");
      return true;
    });
    const third = memoryTaskContext({ attempt: 3 });
    const ok = await executeScriptTask(
      kind({ command: fixture("retry-exit.sh"), env: { SUCCEED_ON: "3" }, exit_codes: { retry: [75] } }),
      third,
    );
    assert.deepEqual(ok, { stdout: "ok on attempt 3" });
  });

  test("failure codes throw a non-retryable KilnError; timeouts follow retry_on_timeout", async () => {
    await assert.rejects(executeScriptTask(kind({ command: fixture("failing.sh") }), memoryTaskContext()), {
      code: "EXEC_FAILED",
      retryable: false,
    });
    await assert.rejects(
      executeScriptTask(kind({ command: fixture("slow.sh"), args: ["5"], timeout_seconds: 0.3 }), memoryTaskContext()),
      { code: "EXEC_TIMEOUT", retryable: true },
    );
  });

  test("a parked script throws RunParked", async () => {
    const store = memoryRunStore();
    const task = kind({
      command: "bash",
      args: ["-c", `node ${fixture("api-client.mjs")} sleep later 10m; echo never`],
    });
    await assert.rejects(executeScriptTask(task, memoryTaskContext({ store })), RunParked);
    assert.equal(store.steps.get("later")?.status, "waiting");
  });

  test("the input comes from the run, or from the handler's argument", async () => {
    const task = kind({ command: fixture("echo-stdin.mjs"), input_format: "json_stdin", output_format: "json_stdout" });
    assert.deepEqual(await executeScriptTask(task, memoryTaskContext({ input: { a: 1 } })), { received: { a: 1 } });
    const handler = scriptTaskHandler(task);
    assert.deepEqual(await handler({ b: 2 }, memoryTaskContext({ input: { a: 1 } })), { received: { b: 2 } });
  });

  test("the Forge test scripts behave as specified from a kiln.yaml", async () => {
    const config = parseConfig(
      [
        "tasks:",
        `  - { kind: echo-json, command: ${fixture("echo-json.sh")}, output_format: json_stdout }`,
        `  - { kind: failing, command: ${fixture("failing.sh")} }`,
        `  - { kind: retry-exit, command: ${fixture("retry-exit.sh")}, exit_codes: { retry: [75] }, max_retries: 2 }`,
        `  - { kind: slow, command: ${fixture("slow.sh")}, args: ["3"], timeout_seconds: 1, grace_period_seconds: 1 }`,
      ].join("\n"),
      { env: {} },
    );
    const [echo, failing, retry, slow] = config.tasks;
    assert.ok(echo && failing && retry && slow);
    assert.deepEqual(await executeScriptTask(echo, memoryTaskContext({ input: { name: "Forge" } })), {
      greeting: "hello Forge",
      attempt: 1,
    });
    await assert.rejects(executeScriptTask(failing, memoryTaskContext()), { code: "EXEC_FAILED", retryable: false });
    await assert.rejects(executeScriptTask(retry, memoryTaskContext()), { code: "EXEC_FAILED", retryable: true });
    assert.equal(retry.retry.maxAttempts, 3);
    const ctx = memoryTaskContext();
    await assert.rejects(executeScriptTask(slow, ctx), { code: "EXEC_TIMEOUT", retryable: true });
    assert.deepEqual(ctx.progressReports[0], { percent: 33, message: "step 1 of 3" });
  });
});
