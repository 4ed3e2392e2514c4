// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${INPUT_*} in task args is Kiln's syntax, written as users write it.
/**
 * Script and sandbox escapes. An injection corpus goes through every input format (env, stdin
 * JSON, file, args), through `${INPUT_*}` in args and through `shell: true` scripts: no payload may
 * run a command (a marker file stays absent) and each arrives byte for byte. A config that splices
 * `${INPUT_*}` into shell text is refused. Then QuickJS escape attempts (constructor chains,
 * prototype pollution, infinite loops, huge allocations, deep recursion) must end as coded
 * EXPRESSION_FAILED errors or values that reach nothing of the host. Prints its figures.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isKilnError } from "../../src/errors.ts";
import { executeScriptTask } from "../../src/exec/script-task.ts";
import { kind, memoryTaskContext } from "../support/exec-helpers.ts";
import { Sandbox } from "../../src/flow/expressions/sandbox.ts";

let dir: string;
let marker: string;

/** Payloads that would run `touch MARKER` if spliced into shell text anywhere. */
const payloads = () =>
  [
    "$(touch MARK)",
    "`touch MARK`",
    "; touch MARK",
    "| touch MARK",
    "&& touch MARK",
    "\ntouch MARK\n",
    "'; touch MARK; '",
    '"; touch MARK; "',
    "${IFS}touch${IFS}MARK",
    "$(touch${IFS}MARK)",
    "x\u2028$(touch MARK)",
    "--output=MARK",
    "-e touch MARK",
    "*",
    "~",
    "%0Atouch MARK",
    "\\$(touch MARK)",
    "é\u202e$(touch MARK)",
  ].map((p) => p.replaceAll("MARK", marker));

before(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-escapes-"));
  marker = join(dir, "pwned");
  // Records what it received: argv, $INPUT_X, stdin and the input file, each in its own file.
  writeFileSync(
    join(dir, "record.sh"),
    `#!/usr/bin/env bash
out="$RECORD_DIR"
printf '%s' "$*" > "$out/args"
printf '%s' "\${INPUT_X-}" > "$out/env"
if [ -n "\${INPUT_FILE-}" ]; then cat "$INPUT_FILE" > "$out/file"; fi
if [ ! -t 0 ]; then cat > "$out/stdin"; fi
echo '{"ok":true}'
`,
    { mode: 0o755 },
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("injection corpus through every input format", { timeout: 300_000 }, () => {
  const formats: [string, Record<string, unknown>, (got: Record<string, string>, p: string) => void][] = [
    ["env", { input_format: "env" }, (got, p) => assert.equal(got.env, p)],
    ["json_stdin", { input_format: "json_stdin" }, (got, p) => assert.deepEqual(JSON.parse(got.stdin ?? ""), { x: p })],
    ["json_file", { input_format: "json_file" }, (got, p) => assert.deepEqual(JSON.parse(got.file ?? ""), { x: p })],
    ["args", { input_format: "args" }, (got, p) => assert.equal(got.args, `-- ${p}`)],
    ["${INPUT_X} in args", { input_format: "env", args: ["${INPUT_X}"] }, (got, p) => assert.equal(got.args, p)],
    // The command text is set per payload below (it names the recorder in the temporary directory).
    ["shell: true", { input_format: "env", shell: true }, (got, p) => assert.equal(got.args, p)],
  ];

  it("runs no payload and delivers each byte for byte", async () => {
    let runs = 0;
    for (const [label, settings, check] of formats) {
      for (const p of payloads()) {
        const out = mkdtempSync(join(dir, "rec-"));
        const raw = { command: join(dir, "record.sh"), output_format: "json_stdout", ...settings };
        if (label === "shell: true") raw.command = `${join(dir, "record.sh")} "$INPUT_X"`;
        const task = kind({ ...raw, env: { RECORD_DIR: out } }, dir);
        const ctx = memoryTaskContext({ input: { x: p } });
        const output = await executeScriptTask(task, ctx);
        assert.deepEqual(output, { ok: true }, `${label}: ${JSON.stringify(p)}`);
        const got: Record<string, string> = {};
        for (const f of ["args", "env", "file", "stdin"]) {
          if (existsSync(join(out, f))) got[f] = readFileSync(join(out, f), "utf8");
        }
        check(got, p);
        assert.ok(!existsSync(marker), `${label}: ${JSON.stringify(p)} ran a command`);
        runs++;
      }
    }
    console.log(`escapes injection: formats=${formats.length} payloads=${payloads().length} runs=${runs} executed=0`);
  });

  it("refuses ${INPUT_*} spliced into the text a shell or interpreter parses", () => {
    for (const args of [
      ["-c", "echo ${INPUT_X}"],
      ["-ec", "cat ${INPUT_X}"],
    ]) {
      assert.throws(
        () => kind({ command: "bash", args }, dir),
        (error: unknown) => isKilnError(error) && error.code === "INVALID_CONFIG",
        JSON.stringify(args),
      );
    }
    assert.throws(
      () => kind({ command: "python3", args: ["-c", "print('${INPUT_X}')"] }, dir),
      (error: unknown) => isKilnError(error) && error.code === "INVALID_CONFIG",
    );
  });
});

/** QuickJS escape attempts: [label, source, script (true) or expression]. */
const ATTEMPTS: readonly [string, string, boolean][] = [
  ["constructor chain", "this.constructor.constructor('return process')()", false],
  ["function constructor", "(() => {}).constructor('return globalThis.process')()", false],
  ["async function constructor", "Object.getPrototypeOf(async function () {}).constructor('return process')()", false],
  ["generator constructor", "Object.getPrototypeOf(function* () {}).constructor('return require')().next()", false],
  ["input's constructor", "input.constructor.constructor('return process')()", false],
  ["require", "require('child_process')", false],
  ["dynamic import", "import('node:fs')", false],
  ["std/os modules", "typeof std !== 'undefined' || typeof os !== 'undefined' ? 'reached' : undefined", false],
  ["prototype pollution", "Object.prototype.polluted = 'yes'; return 1", true],
  [
    "__proto__ assignment",
    'const o = JSON.parse(\'{"__proto__":{"polluted":"yes"}}\'); ({}).__proto__.polluted = \'yes\'; return o',
    true,
  ],
  ["Array.prototype pollution", "Array.prototype.map = () => 'owned'; return 1", true],
  ["infinite loop", "while (true) {}", true],
  ["infinite for", "for (;;) {}", true],
  ["microtask loop", "const f = () => Promise.resolve().then(f); f(); while (true) {}", true],
  ["huge string", "let s = 'x'; while (true) s += s; return s.length", true],
  ["huge array", "return new Array(1e9).fill(1).length", true],
  ["huge buffer", "return new ArrayBuffer(2 ** 31).byteLength", true],
  ["many objects", "const a = []; for (;;) a.push({ a: [1, 2, 3] });", true],
  ["deep recursion", "const f = (n) => f(n + 1) + 1; return f(0)", true],
  ["deep nesting", `return ${"[".repeat(100_000)}${"]".repeat(100_000)}`, true],
  ["regex backtracking", "return /(a+)+$/.test('a'.repeat(40) + 'b')", true],
];

describe("QuickJS escape attempts", { timeout: 300_000 }, () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await Sandbox.create({
      expressionTimeoutMs: 100,
      scriptTimeoutMs: 1000,
      memoryLimitBytes: 32 * 1024 * 1024,
    });
  });
  after(() => sandbox?.dispose());

  it("ends each as a coded failure or a value that reaches nothing of the host", () => {
    const outcomes = new Map<string, number>();
    let slowest = 0;
    for (const [label, source, script] of ATTEMPTS) {
      const scope = { input: { n: 1 }, secrets: { TOKEN: "escape-canary-secret" } };
      const started = performance.now();
      let outcome: string;
      try {
        const { value } = script ? sandbox.runScript(source, scope) : sandbox.evaluate(source, scope);
        const text = JSON.stringify(value) ?? "undefined";
        assert.ok(!/reached|owned|process|require/.test(text), `${label} reached the host: ${text}`);
        outcome = "harmless value";
      } catch (error) {
        assert.ok(isKilnError(error), `${label}: not a KilnError: ${(error as Error)?.stack}`);
        assert.equal(error.code, "EXPRESSION_FAILED", label);
        outcome = `EXPRESSION_FAILED/${String(error.data?.reason)}`;
      }
      slowest = Math.max(slowest, performance.now() - started);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      // Nothing leaked into the host, nor into the next evaluation.
      assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined, label);
      assert.equal(sandbox.evaluate("({}).polluted", {}).value, undefined, `${label} polluted the next evaluation`);
      assert.deepEqual(sandbox.evaluate("[1, 2].map((x) => x * 2)", {}).value, [2, 4], `${label} broke the sandbox`);
    }
    console.log(
      `escapes quickjs: attempts=${ATTEMPTS.length} outcomes=${JSON.stringify(Object.fromEntries(outcomes))} slowest=${Math.round(slowest)}ms`,
    );
  });
});
