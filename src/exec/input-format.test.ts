// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fixture, runInTest } from "../../tests/support/exec-helpers.ts";

const temp = mkdtempSync(join(tmpdir(), "kiln-input-"));
after(() => rmSync(temp, { recursive: true, force: true }));

/** Shell metacharacters that would run `touch <marker>` if input ever reached a shell as text. */
function payloads(marker: string): string[] {
  return [
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `; touch ${marker}`,
    `| touch ${marker}`,
    `&& touch ${marker}`,
    `\ntouch ${marker}\n`,
    `'; touch ${marker}; echo '`,
    `"; touch ${marker}; echo "`,
    "${IFS}*",
    "--help",
  ];
}

describe("input formats", () => {
  test("env: each top-level field is INPUT_<KEY>, objects as JSON", async () => {
    const { result } = await runInTest(
      { command: fixture("print-args.py"), output_format: "json_stdout" },
      { input: { name: "Ada", "max-items": 3, nested: { a: [1] }, flag: true, none: null } },
    );
    assert.deepEqual((result.output as { env: unknown }).env, {
      INPUT_NAME: "Ada",
      INPUT_MAX_ITEMS: "3",
      INPUT_NESTED: '{"a":[1]}',
      INPUT_FLAG: "true",
      INPUT_NONE: "",
    });
  });

  test("json_stdin: the input JSON on stdin (Node script)", async () => {
    const input = { list: [1, "two", { three: 3 }], unicode: "héllo ✓" };
    const { result } = await runInTest(
      { command: fixture("echo-stdin.mjs"), input_format: "json_stdin", output_format: "json_stdout" },
      { input },
    );
    assert.deepEqual(result.output, { received: input });
  });

  test("json_file: a private 0600 file in INPUT_FILE, removed afterwards", async () => {
    const script =
      "import json,os,stat; p=os.environ['INPUT_FILE']; print(json.dumps({'path': p, 'mode': oct(stat.S_IMODE(os.stat(p).st_mode)), 'dirmode': oct(stat.S_IMODE(os.stat(os.path.dirname(p)).st_mode)), 'input': json.load(open(p))}))";
    const { result } = await runInTest(
      { command: "/usr/bin/python3", args: ["-c", script], input_format: "json_file", output_format: "json_stdout" },
      { input: { a: 1 } },
    );
    const output = result.output as { path: string; mode: string; dirmode: string; input: unknown };
    assert.equal(output.mode, "0o600");
    assert.equal(output.dirmode, "0o700");
    assert.deepEqual(output.input, { a: 1 });
    assert.equal(existsSync(output.path), false);
  });

  test("args: fields become positional arguments in key order, or in input_args order", async () => {
    const input = { first: "a b", second: { x: 1 }, third: 3 };
    const byKeys = await runInTest(
      { command: fixture("print-args.py"), args: ["--fixed"], input_format: "args", output_format: "json_stdout" },
      { input },
    );
    // "--" (args_separator) comes first, so a value can never be read as an option.
    assert.deepEqual((byKeys.result.output as { argv: string[] }).argv, ["--fixed", "--", "a b", '{"x":1}', "3"]);
    const declared = await runInTest(
      {
        command: fixture("print-args.py"),
        input_format: "args",
        input_args: ["third", "missing", "first"],
        output_format: "json_stdout",
      },
      { input },
    );
    assert.deepEqual((declared.result.output as { argv: string[] }).argv, ["--", "3", "", "a b"]);
    const bare = await runInTest(
      { command: fixture("print-args.py"), input_format: "args", args_separator: "", output_format: "json_stdout" },
      { input: { opt: "--output=/tmp/x" } },
    );
    assert.deepEqual((bare.result.output as { argv: string[] }).argv, ["--output=/tmp/x"]);
  });

  test("args: an option-like value after the separator is data, not an option (sort --output)", async () => {
    const target = join(temp, "sort-wrote-this");
    const { result } = await runInTest(
      { command: "sort", input_format: "args", output_format: "stdout" },
      { input: { file: `--output=${target}` } },
    );
    assert.equal(existsSync(target), false, "sort took the input as its --output option");
    assert.notEqual(result.verdict, "success", "sort was asked to read a file named --output=…, which does not exist");
  });

  test("run-time ${INPUT_*}, ${STATE_*}, ${KILN_*} expand in command, args and env without a shell", async () => {
    const { result } = await runInTest(
      {
        command: "${INPUT_TOOL}",
        args: ["--who=${INPUT_NAME}", "${KILN_ATTEMPT}", "${STATE_CURSOR:-none}", "${INPUT_MISSING}"],
        env: { GREETING: "hi ${INPUT_NAME}" },
        output_format: "json_stdout",
      },
      { input: { tool: fixture("print-args.py"), name: "A B\nC" } },
    );
    assert.deepEqual((result.output as { argv: string[] }).argv, ["--who=A B\nC", "1", "none", ""]);
  });
});

describe("input never reaches a shell as text", () => {
  const formats = ["env", "json_stdin", "json_file", "args"] as const;

  for (const format of formats) {
    test(`${format}: injection payloads arrive verbatim and run nothing`, async () => {
      const marker = join(temp, `pwned-${format}`);
      const values = payloads(marker);
      const input = Object.fromEntries(values.map((value, i) => [`p${i}`, value]));
      const script =
        "import json,os,sys\n" +
        "fmt=os.environ['FORMAT']\n" +
        "if fmt=='json_stdin': data=json.load(sys.stdin)\n" +
        "elif fmt=='json_file': data=json.load(open(os.environ['INPUT_FILE']))\n" +
        "elif fmt=='args': data={f'p{i}': v for i, v in enumerate(sys.argv[2:])}\n" +
        "else: data={k[6:].lower(): v for k, v in os.environ.items() if k.startswith('INPUT_P')}\n" +
        "print(json.dumps(data))\n";
      const { result } = await runInTest(
        {
          command: "/usr/bin/python3",
          args: ["-c", script],
          input_format: format,
          output_format: "json_stdout",
          env: { FORMAT: format },
        },
        { input },
      );
      assert.equal(result.verdict, "success", result.error?.message);
      assert.deepEqual(result.output, input);
      assert.equal(existsSync(marker), false, "a payload was executed");
    });
  }

  for (const format of formats) {
    test(`shell: true with ${format}: input is only in env vars and positional parameters`, async () => {
      const marker = join(temp, `pwned-shell-${format}`);
      const values = payloads(marker);
      const input = { name: values[0], other: values[2], third: values[5] };
      // Unquoted on purpose: expansion of a variable's value never runs command substitution.
      const command = 'echo ${INPUT_NAME}; printf "%s|" "$INPUT_OTHER" "$@"; echo; echo "$INPUT_THIRD"';
      const { result } = await runInTest({ command, shell: true, input_format: format }, { input });
      assert.equal(result.verdict, "success", result.error?.message);
      assert.equal(existsSync(marker), false, "a payload was executed");
      const stdout = (result.output as { stdout: string }).stdout;
      assert.ok(stdout.includes(`$(touch ${marker})`), stdout);
      assert.ok(stdout.includes(`; touch ${marker}|`), stdout);
      if (format === "args") assert.ok(stdout.includes(`|$(touch ${marker})|`), stdout);
    });
  }

  test("shell: true does not expand ${INPUT_*} itself: the shell reads it from the environment", async () => {
    const marker = join(temp, "pwned-shell-text");
    const { result } = await runInTest(
      { command: 'echo "[${INPUT_NAME}]"', shell: true },
      { input: { name: `"; touch ${marker}; echo "` } },
    );
    assert.equal((result.output as { stdout: string }).stdout, `["; touch ${marker}; echo "]`);
    assert.equal(existsSync(marker), false);
  });

  test("a configured shell path is used", async () => {
    const { result } = await runInTest({ command: 'echo "$BASH_VERSION" | cut -c1', shell: "/bin/bash" });
    assert.match((result.output as { stdout: string }).stdout, /^\d$/);
  });
});
