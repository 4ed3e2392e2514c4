// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fixture, memoryRunStore, runInTest } from "../../tests/support/exec-helpers.ts";

const temp = mkdtempSync(join(tmpdir(), "kiln-run-script-"));
after(() => rmSync(temp, { recursive: true, force: true }));

describe("exit codes", () => {
  test("Forge echo-json.sh: success with parsed JSON output", async () => {
    const { result } = await runInTest(
      { command: fixture("echo-json.sh"), output_format: "json_stdout" },
      { input: { name: "Ada" } },
    );
    assert.equal(result.verdict, "success");
    assert.equal(result.exitCode, 0);
    assert.deepEqual(result.output, { greeting: "hello Ada", attempt: 1 });
    assert.equal(result.error, null);
  });

  test("Forge failing.sh: exit 1 is a failure, not retried, with exit code and stderr tail kept", async () => {
    const { result, ctx } = await runInTest({ command: fixture("failing.sh") });
    assert.equal(result.verdict, "failure");
    assert.equal(result.exitCode, 1);
    assert.equal(result.signal, null);
    assert.equal(result.stderrTail, "something broke: disk full");
    assert.deepEqual(result.output, { stdout: "doing the work" });
    assert.equal(result.error?.code, "EXEC_FAILED");
    assert.equal(result.error?.retryable, false);
    assert.equal(result.error?.message, "test-kind exited with code 1: something broke: disk full");
    assert.equal(result.error?.data?.exitCode, 1);
    assert.equal(result.error?.data?.stderrTail, "something broke: disk full");
    assert.deepEqual(result.error?.data?.output, { stdout: "doing the work" });
    assert.deepEqual(ctx.logs, [
      { level: "info", message: "doing the work" },
      { level: "warning", message: "something broke: disk full" },
    ]);
  });

  test("Forge retry-exit.sh: exit 75 in the retry list is retryable", async () => {
    const { result } = await runInTest({ command: fixture("retry-exit.sh"), exit_codes: { retry: [75, 111] } });
    assert.equal(result.verdict, "retry");
    assert.equal(result.exitCode, 75);
    assert.equal(result.error?.retryable, true);
    assert.match(result.error?.message ?? "", /exited with code 75 \(a retry code\): temporary failure on attempt 1/);
  });

  test("retry wins over an overlapping failure range; ranges and custom success codes", async () => {
    const codes = { success: [0, "3-4"], retry: [75, "100-110"], failure: ["1-255"] };
    const expectations: [number, string][] = [
      [0, "success"],
      [4, "success"],
      [75, "retry"],
      [105, "retry"],
      [2, "failure"],
      [255, "failure"],
    ];
    for (const [code, verdict] of expectations) {
      const { result } = await runInTest({ command: fixture("exit-with.sh"), args: [String(code)], exit_codes: codes });
      assert.equal(result.verdict, verdict, `exit ${code}`);
      assert.equal(result.exitCode, code);
    }
  });

  test("codes outside every list fail; retry_on_failure makes failures retryable", async () => {
    const only = { success: [0], retry: [], failure: [1] };
    const { result } = await runInTest({ command: fixture("exit-with.sh"), args: ["9"], exit_codes: only });
    assert.equal(result.verdict, "failure");
    const retried = await runInTest({ command: fixture("failing.sh"), retry_on_failure: true });
    assert.equal(retried.result.verdict, "retry");
    assert.equal(retried.result.error?.retryable, true);
  });

  test("death by a signal is reported with the signal name", async () => {
    for (const signal of ["KILL", "TERM", "SEGV"]) {
      const { result } = await runInTest({ command: fixture("signal-self.sh"), args: [signal] });
      assert.equal(result.verdict, "failure", signal);
      assert.equal(result.exitCode, null);
      assert.equal(result.signal, `SIG${signal}`);
      assert.equal(result.error?.code, "EXEC_SIGNALED");
      assert.match(result.error?.message ?? "", new RegExp(`was killed by SIG${signal}`));
      assert.equal(result.error?.data?.signal, `SIG${signal}`);
    }
  });

  test("a signal death is classified by its shell code (128 + n), so it can be made retryable", async () => {
    const { result } = await runInTest({
      command: fixture("signal-self.sh"),
      args: ["KILL"],
      exit_codes: { retry: [137] },
    });
    assert.equal(result.verdict, "retry");
    assert.equal(result.signal, "SIGKILL");
  });
});

describe("spawn errors", () => {
  test("a missing command is EXEC_NOT_FOUND with a clear message", async () => {
    const { result } = await runInTest({ command: "kiln-no-such-command-xyz" });
    assert.equal(result.verdict, "failure");
    assert.equal(result.pid, null);
    assert.equal(result.error?.code, "EXEC_NOT_FOUND");
    assert.match(result.error?.message ?? "", /Cannot run "kiln-no-such-command-xyz": no such file or command on PATH/);
  });

  test("a file without the execute bit is EXEC_PERMISSION_DENIED", async () => {
    const { result } = await runInTest({ command: fixture("not-executable.sh") });
    assert.equal(result.error?.code, "EXEC_PERMISSION_DENIED");
    assert.equal(result.error?.retryable, false);
    assert.match(result.error?.message ?? "", /permission denied/);
  });

  test("a directory as command is EXEC_PERMISSION_DENIED; a missing working_directory is EXEC_NOT_FOUND", async () => {
    assert.equal((await runInTest({ command: temp })).result.error?.code, "EXEC_PERMISSION_DENIED");
    const { result } = await runInTest({ command: "true", working_directory: join(temp, "nope") });
    assert.equal(result.error?.code, "EXEC_NOT_FOUND");
    assert.match(result.error?.message ?? "", /working_directory .*nope does not exist/);
  });

  test("the input size cap refuses before spawning", async () => {
    const { result } = await runInTest(
      { command: "true", max_input_size_kb: 1 },
      { input: { blob: "x".repeat(2000) } },
    );
    assert.equal(result.error?.code, "PAYLOAD_TOO_LARGE");
    assert.match(result.error?.message ?? "", /over max_input_size_kb 1/);
    assert.equal(result.pid, null);
  });
});

describe("output formats", () => {
  test("stdout: trimmed stdout without command lines, set-output keys merged", async () => {
    const { result } = await runInTest({
      command: "bash",
      args: ["-c", 'echo "  first"; echo "::set-output key=n::1"; echo "second  "; echo'],
    });
    assert.deepEqual(result.output, { stdout: "first\nsecond", n: "1" });
  });

  test("json_stdout: a parse error is a failure showing the first bytes", async () => {
    const { result } = await runInTest({ command: "echo", args: ["not json at all"], output_format: "json_stdout" });
    assert.equal(result.verdict, "failure");
    assert.equal(result.exitCode, 0);
    assert.equal(result.error?.code, "OUTPUT_INVALID_JSON");
    assert.match(
      result.error?.message ?? "",
      /stdout \(output_format: json_stdout\) is not valid JSON .*starts with "not json at all"/,
    );
  });

  test("json_stdout: non-object JSON goes under result when outputs exist; empty stdout with outputs is fine", async () => {
    const array = await runInTest({
      command: "bash",
      args: ["-c", 'echo "[1,2]"; echo "::set-output key=k::v"'],
      output_format: "json_stdout",
    });
    assert.deepEqual(array.result.output, { result: [1, 2], k: "v" });
    const empty = await runInTest({
      command: "bash",
      args: ["-c", 'echo "::set-output key=k::v"'],
      output_format: "json_stdout",
    });
    assert.deepEqual(empty.result.output, { k: "v" });
    const nothing = await runInTest({ command: "true", output_format: "json_stdout" });
    assert.equal(nothing.result.error?.code, "OUTPUT_INVALID_JSON");
  });

  test("file: $KILN_OUTPUT_FILE by default, or output_file with run-time variables", async () => {
    const byDefault = await runInTest({
      command: "bash",
      args: ["-c", 'echo \'{"from":"file"}\' > "$KILN_OUTPUT_FILE"'],
      output_format: "file",
    });
    assert.deepEqual(byDefault.result.output, { from: "file" });
    const named = await runInTest({
      command: "bash",
      args: ["-c", 'echo "plain text" > "out-$KILN_ATTEMPT.txt"'],
      output_format: "file",
      output_file: "out-${KILN_ATTEMPT}.txt",
      working_directory: temp,
    });
    assert.deepEqual(named.result.output, { content: "plain text" });
    const missing = await runInTest({ command: "true", output_format: "file", output_file: join(temp, "none.json") });
    assert.equal(missing.result.error?.code, "EXEC_FAILED");
    assert.match(missing.result.error?.message ?? "", /did not write its output file/);
  });

  test("exit_code_only", async () => {
    const { result } = await runInTest({
      command: fixture("exit-with.sh"),
      args: ["0"],
      output_format: "exit_code_only",
    });
    assert.deepEqual(result.output, { exitCode: 0 });
  });

  test("output size cap: stdout keeps head and tail with a marker; json_stdout fails with OUTPUT_TOO_LARGE", async () => {
    const script = 'for i in $(seq 1 2000); do echo "line $i"; done';
    const text = await runInTest({ command: "bash", args: ["-c", script], max_output_size_kb: 1 });
    const output = text.result.output as { stdout: string; truncated: boolean };
    assert.equal(output.truncated, true);
    assert.ok(output.stdout.startsWith("line 1\nline 2\n"));
    assert.ok(output.stdout.endsWith("line 1999\nline 2000"));
    assert.match(output.stdout, /\[… \d+ lines \([\d.]+ KB\) omitted: over max_output_size_kb 1 …\]/);
    assert.ok(output.stdout.length < 1200);
    const json = await runInTest({
      command: "python3",
      args: ["-c", "import json; print(json.dumps(['x'*100]*100))"],
      output_format: "json_stdout",
      max_output_size_kb: 1,
    });
    assert.equal(json.result.error?.code, "OUTPUT_TOO_LARGE");
    assert.match(json.result.error?.message ?? "", /over max_output_size_kb 1/);
  });
});

describe("state, outputs, logs and progress", () => {
  test("set-state, set-output (key= and name=), Kestra outputs, $KILN_OUTPUT and $KILN_STATE", async () => {
    const store = memoryRunStore();
    const first = await runInTest({ command: fixture("state-output.sh") }, { store });
    assert.equal(first.result.verdict, "success");
    assert.deepEqual(first.result.output, {
      stdout: "cursor was none on attempt 1\nvisible line",
      rows: "42",
      table: "users",
      kestra: { nested: [1, 2] },
      from_file: "plain value",
      multi: "line one\nline two",
    });
    assert.deepEqual(first.result.stateChanges, { cursor: "10", file_state: "saved" });
    assert.deepEqual(Object.fromEntries(store.state), { cursor: "10", file_state: "saved" });
    const second = await runInTest({ command: fixture("state-output.sh") }, { store, attempt: 2 });
    assert.match(String((second.result.output as { stdout: string }).stdout), /cursor was 10 on attempt 2/);
    assert.equal(store.state.get("cursor"), "20");
  });

  test("state saved before a failure survives for the next attempt", async () => {
    const store = memoryRunStore();
    const { result } = await runInTest(
      { command: "bash", args: ["-c", 'echo "::set-state key=done::part-1"; exit 75'], exit_codes: { retry: [75] } },
      { store },
    );
    assert.equal(result.verdict, "retry");
    assert.equal(store.state.get("done"), "part-1");
  });

  test("a failed state write (lost lease) fails the attempt with that error", async () => {
    const { memoryTaskContext } = await import("../../tests/support/exec-helpers.ts");
    const ctx = memoryTaskContext({ failStateWrites: true });
    const { result } = await runInTest({ command: "bash", args: ["-c", 'echo "::set-state key=k::v"'] }, { ctx });
    assert.equal(result.error?.code, "LEASE_LOST");
  });

  test("logs, progress and groups are reported to the task context", async () => {
    const { result, ctx } = await runInTest({
      command: "bash",
      args: [
        "-c",
        'echo "::group::Setup"; echo "::debug::dbg"; echo "::log level=error::bad"; echo "::endgroup::";' +
          ' echo "::progress percent=40::copying"; echo out; echo err >&2',
      ],
    });
    assert.equal(result.verdict, "success");
    assert.deepEqual(ctx.logs, [
      { level: "info", message: "▸ Setup" },
      { level: "debug", message: "dbg" },
      { level: "error", message: "bad" },
      { level: "info", message: "◂ Setup" },
      { level: "info", message: "out" },
      { level: "warning", message: "err" },
    ]);
    assert.deepEqual(ctx.progressReports, [{ percent: 40, message: "copying" }]);
    assert.equal(result.stdoutTail, "out");
  });

  test("capture_stderr: false discards stderr", async () => {
    const { result, ctx } = await runInTest({ command: fixture("failing.sh"), capture_stderr: false });
    assert.equal(result.stderrTail, "");
    assert.equal(result.error?.message, "test-kind exited with code 1");
    assert.deepEqual(ctx.logs, [{ level: "info", message: "doing the work" }]);
  });

  test("log volume is capped: head and tail kept, the middle counted", async () => {
    const { result, ctx } = await runInTest({
      command: "bash",
      args: ["-c", 'for i in $(seq 1 5000); do echo "log line $i"; done'],
      max_log_size_kb: 4,
    });
    assert.equal(result.verdict, "success");
    const messages = ctx.logs.map((l) => l.message);
    assert.equal(messages[0], "log line 1");
    assert.equal(messages.at(-1), "log line 5000");
    const marker = messages.find((m) => m.includes("omitted"));
    assert.match(marker ?? "", /^\[\d+ log lines \([\d.]+ KB\) omitted: over max_log_size_kb 4; head and tail kept\]$/);
    const keptSize = messages.reduce((sum, m) => sum + m.length + 1, 0);
    assert.ok(keptSize < 4 * 1024 + 200, `kept ${keptSize}`);
    assert.ok(result.logs.omittedLines > 4000);
  });

  test("the attempt's files are removed afterwards; the process's private directory keeps only the socket", async () => {
    const dir = mkdtempSync(join(temp, "attempts-"));
    const write = 'test -S "$KILN_API_SOCKET" && echo a=1 >> "$KILN_OUTPUT" && echo b=2 >> "$KILN_STATE"';
    for (const exit of [0, 3]) {
      const { result } = await runInTest(
        {
          command: "bash",
          args: ["-c", `${write} && cat "$INPUT_FILE" > "$KILN_OUTPUT_FILE" && exit ${exit}`],
          input_format: "json_file",
          output_format: "file",
        },
        { tempDir: dir, input: { a: 1 } },
      );
      assert.equal(result.verdict, exit === 0 ? "success" : "failure");
      assert.deepEqual(result.output, { a: "1" });
    }
    const [space, ...others] = readdirSync(dir);
    assert.deepEqual(others, []);
    assert.deepEqual(readdirSync(join(dir, space ?? "")), ["api.sock"]);
  });
});

test("set-output values together are capped by max_output_size_kb", async () => {
  const { result } = await runInTest({
    command: "bash",
    args: ["-c", 'for i in $(seq 1 50); do echo "::set-output key=k$i::$(head -c 100 /dev/zero | tr "\\0" x)"; done'],
    max_output_size_kb: 1,
  });
  assert.equal(result.verdict, "failure");
  assert.equal(result.error?.code, "OUTPUT_TOO_LARGE");
  assert.match(result.error?.message ?? "", /set-output values are over max_output_size_kb 1/);
  assert.deepEqual(result.outputs, {});
});
