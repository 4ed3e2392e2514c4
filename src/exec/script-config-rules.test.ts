// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} syntax appears in plain strings on purpose.
/**
 * Run-time values never become program text, argv secrets or paths outside the task's directory
 * (issue 20.6, 20.9): refused at config load, or failing the attempt before anything is read.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseConfig } from "../config/load-config.ts";
import { KilnError } from "../errors.ts";
import { kind, runInTest } from "../../tests/support/exec-helpers.ts";

function configError(yaml: string): KilnError {
  try {
    parseConfig(yaml, { env: {} });
  } catch (error) {
    assert.ok(error instanceof KilnError, String(error));
    return error;
  }
  assert.fail("expected INVALID_CONFIG");
}

describe("run-time values in shell-interpreted positions are refused at load", () => {
  for (const [command, args] of [
    ["bash", ["-c", "echo ${INPUT_NAME}"]],
    ["/bin/sh", ["-ec", "cat ${INPUT_FILE_NAME}"]],
    ["python3", ["-c", "print('${INPUT_X}')"]],
    ["node", ["-e", "console.log('${STATE_CURSOR}')"]],
    ["bash", ["-c", "curl -H 'Authorization: ${secret:API_TOKEN}' x"]],
  ] as const) {
    test(`${command} ${args.join(" ")}`, () => {
      const error = configError(`tasks:\n  - kind: t\n    command: ${command}\n    args: ${JSON.stringify(args)}\n`);
      assert.equal(error.code, "INVALID_CONFIG");
      assert.match(error.message, /program text .* would become code; use input_format: env/);
      assert.throws(() => kind({ command, args: [...args] }), /would become code/);
    });
  }

  test("a script file or a value after the program text stays allowed (positional, never parsed)", () => {
    const config = parseConfig(
      'tasks:\n  - kind: t\n    command: bash\n    args: ["-c", "echo \\"$1\\"", "x", "${INPUT_NAME}"]\n',
      { env: {} },
    );
    assert.deepEqual(config.tasks[0]?.args, ["-c", 'echo "$1"', "x", "${INPUT_NAME}"]);
  });

  test("a secret in args is refused (visible in /proc/PID/cmdline): use env or stdin", () => {
    const error = configError('tasks:\n  - kind: t\n    command: curl\n    args: ["-u", "me:${secret:PASS}"]\n');
    assert.match(error.message, /tasks\[0\]\.args.*\/proc\/PID\/cmdline; pass it in env/s);
  });
});

describe("paths built from input or state stay inside the task's directory", () => {
  const taskDir = mkdtempSync(join(tmpdir(), "kiln-confine-"));
  mkdirSync(join(taskDir, "data", "alpha"), { recursive: true });
  writeFileSync(join(taskDir, "data", "alpha", "report.json"), '{"ok":true}');
  symlinkSync("/etc", join(taskDir, "data", "escape"));

  for (const project of ["../../../../etc", "escape", "alpha/../../.."]) {
    test(`working_directory data/\${INPUT_PROJECT} with "${project}" is PATH_NOT_ALLOWED`, async () => {
      const { result } = await runInTest(
        { command: "pwd", working_directory: "data/${INPUT_PROJECT}", output_format: "stdout" },
        { input: { project }, taskDir },
      );
      assert.equal(result.verdict, "failure");
      assert.equal(result.error?.code, "PATH_NOT_ALLOWED", result.error?.message);
    });
  }

  test("working_directory inside the task's directory runs there", async () => {
    const { result } = await runInTest(
      { command: "pwd", working_directory: "data/${INPUT_PROJECT}", output_format: "stdout" },
      { input: { project: "alpha" }, taskDir },
    );
    assert.equal(result.verdict, "success", result.error?.message);
    assert.match(String((result.output as { stdout: string }).stdout), /data\/alpha$/);
  });

  for (const report of ["/etc/passwd", "../../../../etc/passwd", "data/escape/passwd", ".kiln/admin-token"]) {
    test(`output_file \${INPUT_REPORT} = "${report}" reads nothing outside`, async () => {
      const { result } = await runInTest(
        { command: "true", output_format: "file", output_file: "${INPUT_REPORT}" },
        { input: { report }, taskDir },
      );
      if (report === ".kiln/admin-token") {
        // Inside the task's directory but absent: an ordinary missing-file failure, not an escape.
        assert.notEqual(result.verdict, "success");
        return;
      }
      assert.equal(result.verdict, "failure");
      assert.equal(result.error?.code, "PATH_NOT_ALLOWED", result.error?.message);
      assert.doesNotMatch(JSON.stringify(result.output ?? null), /root:/);
    });
  }

  test("output_file that the script itself turns into a symlink out is refused after it ran", async () => {
    const { result } = await runInTest(
      {
        command: "ln",
        args: ["-sf", "/etc/passwd", "made-by-script.json"],
        working_directory: taskDir,
        output_format: "file",
        output_file: "${INPUT_REPORT}",
      },
      { input: { report: "made-by-script.json" }, taskDir },
    );
    assert.equal(result.error?.code, "PATH_NOT_ALLOWED", result.error?.message);
    assert.doesNotMatch(JSON.stringify(result.output ?? null), /root:/);
  });

  test("output_file inside the task's directory is read", async () => {
    const { result } = await runInTest(
      { command: "true", working_directory: taskDir, output_format: "file", output_file: "${INPUT_REPORT}" },
      { input: { report: "data/alpha/report.json" }, taskDir },
    );
    assert.equal(result.verdict, "success", result.error?.message);
    assert.ok(existsSync(join(taskDir, "data", "alpha", "report.json")));
  });
});

describe("commands: on | file-only | off — echoed input cannot set outputs", () => {
  const echoInput = {
    command: "bash",
    args: [
      "-c",
      'printf "%s\\n" "$INPUT_TEXT"; echo "real=from-file" >> "$KILN_OUTPUT"; echo "::log level=warning::careful"',
    ],
    output_format: "exit_code_only",
  };
  const input = { text: "x\n::set-output key=injected::yes" };

  test("on (default, GitHub-compatible): an echoed ::set-output is honoured — the documented risk", async () => {
    const { result } = await runInTest(echoInput, { input });
    assert.equal((result.output as Record<string, unknown>).injected, "yes");
  });

  for (const mode of ["file-only", "off"] as const) {
    test(`${mode}: the echoed ::set-output is a plain log line; $KILN_OUTPUT still sets outputs`, async () => {
      const { result, ctx } = await runInTest({ ...echoInput, commands: mode }, { input });
      assert.equal(result.verdict, "success", result.error?.message);
      const output = result.output as Record<string, unknown>;
      assert.equal(output.injected, undefined);
      assert.equal(output.real, "from-file");
      const messages = ctx.logs.map((l) => l.message);
      assert.ok(messages.includes("::set-output key=injected::yes"), messages.join("\n"));
      // file-only still honours logging commands; off prints them as they are.
      assert.equal(messages.includes("::log level=warning::careful"), mode === "off");
    });
  }
});
