// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { KilnError } from "../errors.ts";
import type { ConfigProblem } from "./config-problems.ts";
import { loadConfig, parseConfig } from "./load-config.ts";
import { NO_SANDBOX } from "./resolve-sandbox.ts";

const DESIGN_EXAMPLE = `
server:   { url: "http://localhost:7700", namespace: default, token: "\${KILN_TOKEN}" }
worker:   { name: kiln-worker, queue: default, concurrency: 8, heartbeat_interval_seconds: 30 }
tasks:
  - kind: run-backup
    command: python3
    args: ["/scripts/backup.py"]
    input_format: json_stdin        # env | json_stdin | json_file | args
    output_format: json_stdout      # stdout | json_stdout | file | exit_code_only
    exit_codes: { success: [0], retry: [75, 111], failure: ["1-255"] }
    timeout_seconds: 3600
    timeout_action: signal          # kill | signal (SIGTERM, then SIGKILL after the grace period)
    grace_period_seconds: 30
    max_retries: 3
    working_directory: /data
    env: { BUCKET: "\${BACKUP_BUCKET}" }
`;

const dirs: string[] = [];
function tempDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-config-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function problemsOf(fn: () => unknown): ConfigProblem[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof KilnError, String(error));
    assert.equal(error.code, "INVALID_CONFIG", error.message);
    return error.data?.problems as ConfigProblem[];
  }
  assert.fail("expected INVALID_CONFIG");
}

function errorOf(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof KilnError, String(error));
    return error;
  }
  assert.fail("expected a KilnError");
}

describe("loadConfig", () => {
  test("the example script-task config resolves to a frozen, millisecond-based config", () => {
    const dir = tempDir({ "kiln.yaml": DESIGN_EXAMPLE });
    const config = loadConfig({ cwd: dir, env: { KILN_TOKEN: "tok-1", BACKUP_BUCKET: "s3://b" } });
    assert.deepEqual(config.server, {
      url: "http://localhost:7700",
      namespace: "default",
      token: "tok-1",
      listen: "127.0.0.1:7700",
      database: null,
      rateLimits: {},
    });
    assert.deepEqual(config.worker, {
      name: "kiln-worker",
      version: null,
      queues: ["default"],
      concurrency: 8,
      heartbeatIntervalMs: 30_000,
      shutdownTimeoutMs: 10_000,
      healthPort: null,
      env: {},
      envPassthrough: [],
      dependencies: {
        cacheDirectory: null,
        cacheMaxSizeBytes: 2048 * 1024 * 1024,
        python: "/usr/bin/python3",
        pipIndexUrl: null,
        pipFindLinks: [],
        npmRegistry: null,
      },
      sandbox: NO_SANDBOX,
      adapters: ["exec"],
      docker: { cli: null, cliArgs: [], runArgs: [], nodeImage: null, pythonImage: null, rootfs: null },
      cloudflare: null,
    });
    const task = config.tasks[0];
    assert.ok(task);
    assert.equal(task.kind, "run-backup");
    assert.equal(task.command, "python3");
    assert.deepEqual(task.args, ["/scripts/backup.py"]);
    assert.equal(task.shell, null);
    assert.equal(task.inputFormat, "json_stdin");
    assert.equal(task.outputFormat, "json_stdout");
    assert.deepEqual([...task.exitCodes.success], [0]);
    assert.deepEqual([...task.exitCodes.retry], [75, 111]);
    assert.equal(task.exitCodes.failure.size, 255);
    assert.ok(task.exitCodes.failure.has(1) && task.exitCodes.failure.has(255) && !task.exitCodes.failure.has(0));
    assert.equal(task.timeoutMs, 3_600_000);
    assert.equal(task.timeoutAction, "signal");
    assert.equal(task.gracePeriodMs, 30_000);
    assert.equal(task.heartbeatTimeoutMs, null);
    assert.equal(task.maxRetries, 3);
    assert.equal(task.retry.maxAttempts, 4);
    assert.equal(task.workingDirectory, "/data");
    assert.deepEqual(task.env, { BUCKET: "s3://b" });
    assert.equal(task.captureStderr, true);
    assert.equal(task.maxOutputSizeKb, 512);
    assert.deepEqual(task.source, { file: "kiln.yaml", line: 5 });
    assert.ok(
      Object.isFrozen(config) && Object.isFrozen(task) && Object.isFrozen(task.args) && Object.isFrozen(task.env),
    );
    assert.throws(() => {
      (task.args as string[]).push("x");
    }, TypeError);
  });

  test("finds kiln.yml and kiln.toml, and refuses two candidates", () => {
    const yml = tempDir({ "kiln.yml": "tasks: [{ kind: a, command: 'true' }]" });
    assert.equal(loadConfig({ cwd: yml, env: {} }).tasks[0]?.kind, "a");
    const toml = tempDir({ "kiln.toml": '[[tasks]]\nkind = "b"\ncommand = "true"\n' });
    assert.equal(loadConfig({ cwd: toml, env: {} }).tasks[0]?.kind, "b");
    const both = tempDir({ "kiln.yaml": "{}", "kiln.toml": "" });
    assert.match(errorOf(() => loadConfig({ cwd: both, env: {} })).message, /kiln\.yaml and kiln\.toml/);
  });

  test("an explicit file, a directory, and KILN_CONFIG are honoured; missing ones are CONFIG_NOT_FOUND", () => {
    const dir = tempDir({
      "conf/custom.yaml": "worker: { name: explicit }",
      "other/kiln.yaml": "worker: { name: env }",
    });
    assert.equal(loadConfig({ cwd: dir, file: "conf/custom.yaml", env: {} }).worker.name, "explicit");
    assert.equal(loadConfig({ cwd: dir, file: join(dir, "other"), env: {} }).worker.name, "env");
    assert.equal(loadConfig({ cwd: dir, env: { KILN_CONFIG: join(dir, "other/kiln.yaml") } }).worker.name, "env");
    const missing = errorOf(() => loadConfig({ cwd: dir, env: { KILN_CONFIG: "nope.yaml" } }));
    assert.equal(missing.code, "CONFIG_NOT_FOUND");
    assert.match(missing.message, /nope\.yaml \(from KILN_CONFIG\) does not exist/);
    assert.equal(errorOf(() => loadConfig({ cwd: tempDir(), env: {} })).code, "CONFIG_NOT_FOUND");
    const defaults = loadConfig({ cwd: tempDir(), env: {}, optional: true });
    assert.equal(defaults.server.url, "http://localhost:7700");
    assert.deepEqual(defaults.tasks, []);
  });

  test("tasks/*.yaml files are merged into the base file (list, single task, or tasks mapping)", () => {
    const dir = tempDir({
      "kiln.yaml": "tasks:\n  - kind: base\n    command: 'true'\n",
      "tasks/a.yaml": "- kind: a1\n  command: 'true'\n- kind: a2\n  command: 'true'\n",
      "tasks/b.yml": "kind: b\ncommand: echo\nargs: [hi]\n",
      "tasks/c.yaml": "tasks:\n  - kind: c\n    command: 'true'\n",
      "tasks/d.toml": '[[tasks]]\nkind = "d"\ncommand = "true"\n',
      "tasks/notes.txt": "ignored",
    });
    const config = loadConfig({ cwd: dir, env: {} });
    assert.deepEqual(
      config.tasks.map((t) => t.kind),
      ["base", "a1", "a2", "b", "c", "d"],
    );
    assert.deepEqual(config.tasks[3]?.source, { file: join("tasks", "b.yml"), line: 1 });
    assert.equal(config.files.length, 5);
  });

  test("Forge field names load unchanged as aliases", () => {
    const config = parseConfig("server:\n  grpc_address: forge.example:443\n  org_id: acme\n  worker_token: wt-123\n", {
      env: {},
    });
    assert.equal(config.server.url, "http://forge.example:443", "host:port means http");
    assert.equal(config.server.namespace, "acme");
    assert.equal(config.server.token, "wt-123");
  });

  test("relative working_directory and plugin paths resolve against the config file; output_file stays relative", () => {
    const dir = tempDir({
      "kiln.yaml":
        "tasks:\n  - kind: a\n    command: x\n    working_directory: scripts\n    output_format: file\n" +
        "    output_file: out/result.json\nplugins:\n  - { name: p, module: ./plugins/p.mjs }\n  - { name: q, module: kiln-plugin-q }\n",
    });
    const config = loadConfig({ cwd: dir, env: {} });
    assert.equal(config.tasks[0]?.workingDirectory, join(dir, "scripts"));
    assert.equal(config.tasks[0]?.outputFile, "out/result.json");
    assert.deepEqual(
      config.plugins.map((p) => p.module),
      [join(dir, "plugins/p.mjs"), "kiln-plugin-q"],
    );
  });

  test("defaults of a minimal task kind", () => {
    const task = parseConfig("tasks: [{ kind: t, command: run }]", { env: {} }).tasks[0];
    assert.ok(task);
    assert.equal(task.inputFormat, "env");
    assert.equal(task.outputFormat, "stdout");
    assert.deepEqual([...task.exitCodes.success], [0]);
    assert.deepEqual([...task.exitCodes.retry], []);
    assert.equal(task.exitCodes.failure.size, 255);
    assert.equal(task.timeoutMs, null);
    assert.equal(task.gracePeriodMs, 10_000);
    assert.equal(task.timeoutAction, "signal");
    assert.equal(task.maxRetries, 3);
    assert.deepEqual(task.retry, {
      maxAttempts: 4,
      initialIntervalMs: 1000,
      maxIntervalMs: 60_000,
      backoffCoefficient: 2,
      jitter: 0.1,
      nonRetryableErrors: [],
    });
    assert.equal(task.retryOnTimeout, true);
    assert.equal(task.retryOnFailure, false);
    assert.equal(task.maxInputSizeKb, 1024);
    assert.equal(task.maxLogSizeKb, 2048);
    assert.deepEqual(task.secrets, []);
  });

  test("shell: true means /bin/sh; a string names the shell; secrets are collected from references", () => {
    const config = parseConfig(
      "tasks:\n" +
        "  - { kind: a, command: 'echo $X', shell: true, env: { T: '${secret:API_TOKEN}' }, secrets: [DB_PASS] }\n" +
        "  - { kind: b, command: 'echo hi', shell: /bin/bash, args: ['x', 7], env: { O: '${secret:OTHER}' } }\n",
      { env: {} },
    );
    assert.equal(config.tasks[0]?.shell, "/bin/sh");
    assert.deepEqual(config.tasks[0]?.secrets, ["DB_PASS", "API_TOKEN"]);
    assert.deepEqual(config.tasks[0]?.secretEnv, ["DB_PASS"]);
    assert.equal(config.tasks[1]?.shell, "/bin/bash");
    assert.deepEqual(config.tasks[1]?.args, ["x", "7"]);
    assert.deepEqual(config.tasks[1]?.secrets, ["OTHER"]);
  });
});

describe("variable substitution", () => {
  test("${VAR} and ${VAR:-default} expand at load time; run-time names and secrets stay for exec", () => {
    const text = `
server: { url: "\${URL}", token: "\${KILN_TOKEN:-none}", namespace: "\${NS:-fallback}" }
worker:
  concurrency: \${CONC}
  name: "w-\${EMPTY:-dflt}"
tasks:
  - kind: t
    command: "\${TOOL}"
    args: ["--run", "\${KILN_RUN_ID}", "--name=\${INPUT_NAME}", "\${STATE_CURSOR:-0}", "$\${LITERAL}"]
    env: { A: "\${HOME_DIR}/x", B: "\${INPUT_B}", C: "\${KILN_ATTEMPT}", T: "\${secret:TOKEN}" }
    timeout_seconds: \${TIMEOUT}
`;
    const config = parseConfig(text, {
      env: { URL: "http://k:1", TOOL: "/bin/tool", HOME_DIR: "/h", TIMEOUT: "90", CONC: "4", EMPTY: "" },
    });
    assert.equal(config.server.url, "http://k:1");
    assert.equal(config.server.token, "none");
    assert.equal(config.server.namespace, "fallback");
    assert.equal(config.worker.concurrency, 4);
    assert.equal(config.worker.name, "w-dflt");
    const task = config.tasks[0];
    assert.equal(task?.command, "/bin/tool");
    assert.deepEqual(task?.args, [
      "--run",
      "${KILN_RUN_ID}",
      "--name=${INPUT_NAME}",
      "${STATE_CURSOR:-0}",
      "${LITERAL}",
    ]);
    assert.deepEqual(task?.env, { A: "/h/x", B: "${INPUT_B}", C: "${KILN_ATTEMPT}", T: "${secret:TOKEN}" });
    assert.equal(task?.timeoutMs, 90_000);
  });

  test("an unset load-time variable names the variable, the file and the line", () => {
    const dir = tempDir({ "kiln.yaml": "worker:\n  name: w\ntasks:\n  - kind: t\n    command: '${MISSING_TOOL}'\n" });
    const error = errorOf(() => loadConfig({ cwd: dir, env: {} }));
    assert.equal(error.code, "CONFIG_VARIABLE_UNSET");
    assert.match(error.message, /^kiln\.yaml:5:\d+: the variable MISSING_TOOL is not set/);
    assert.equal(error.data?.variable, "MISSING_TOOL");
    assert.equal(error.data?.line, 5);
  });

  test("every unset variable is listed at once, in YAML and TOML", () => {
    const yaml = errorOf(() => parseConfig("server:\n  url: ${A}\n  token: ${B}\n", { env: {} }));
    assert.equal(yaml.code, "CONFIG_VARIABLE_UNSET");
    assert.match(yaml.message, /2 variables are not set/);
    assert.match(yaml.message, /kiln\.yaml:2:\d+: the variable A/);
    assert.match(yaml.message, /kiln\.yaml:3:\d+: the variable B/);
    const toml = errorOf(() =>
      parseConfig('[server]\nurl = "x"\n\n[[tasks]]\nkind = "t"\ncommand = "${TOOL}"\n', {
        file: "kiln.toml",
        env: {},
      }),
    );
    assert.equal(toml.code, "CONFIG_VARIABLE_UNSET");
    assert.match(toml.message, /^kiln\.toml:6:1: the variable TOOL is not set/);
  });

  test("KILN_* is load-time outside task command/args/env (server.token), and unset there is an error", () => {
    const error = errorOf(() => parseConfig('server: { token: "${KILN_TOKEN}" }', { env: {} }));
    assert.equal(error.code, "CONFIG_VARIABLE_UNSET");
    assert.match(error.message, /KILN_TOKEN/);
  });

  test("a substituted value cannot change the document's structure", () => {
    const config = parseConfig('worker: { name: "${EVIL}" }\n', { env: { EVIL: "x\nconcurrency: 999\n}: [" } });
    assert.equal(config.worker.name, "x\nconcurrency: 999\n}: [");
    assert.equal(config.worker.concurrency, 8);
  });
});

describe("validation", () => {
  test("reports every error at once with file:line:column, key path and a message that says what to fix", () => {
    const text = [
      "server:", //                          1
      "  url: http://x", //                  2
      "  colour: red", //                    3
      "worker:", //                          4
      "  concurrency: -2", //                5
      "tasks:", //                           6
      "  - kind: a", //                      7
      '    command: "true"', //              8
      '    timeout_seconds: "abc"', //       9
      "    input_format: xml", //            10
      "    timout_seconds: 5", //            11
      '    exit_codes: { retry: [75, 300, "9-3"] }', // 12
      "  - kind: b", //                      13
      "    args: [1]", //                    14
      "    env: { 'BAD NAME': x }", //       15
    ].join("\n");
    const problems = problemsOf(() => parseConfig(text, { env: {} }));
    const byPath = new Map(problems.map((p) => [p.path, p]));
    const expect = (path: string, line: number, message: RegExp, column?: number) => {
      const problem = byPath.get(path);
      assert.ok(problem, `no problem at ${path}; got ${problems.map((p) => p.path).join(", ")}`);
      assert.equal(problem.file, "kiln.yaml");
      assert.equal(problem.line, line, `${path} line`);
      if (column !== undefined) assert.equal(problem.column, column, `${path} column`);
      assert.match(problem.message, message);
    };
    expect("server.colour", 3, /^Unknown key "colour"$/, 3);
    expect("worker.concurrency", 5, /^Expected "concurrency" to be a positive whole number, got -2$/, 16);
    expect("tasks[0].timeout_seconds", 9, /^Expected "timeout_seconds" to be a positive number, got "abc"$/, 22);
    expect(
      "tasks[0].input_format",
      10,
      /^Expected "input_format" to be one of env, json_stdin, json_file, args, got "xml"$/,
    );
    expect("tasks[0].timout_seconds", 11, /^Unknown key "timout_seconds" \(did you mean "timeout_seconds"\?\)$/, 5);
    expect("tasks[0].exit_codes.retry[1]", 12, /^Expected "retry\[1\]" to be an exit code from 0 to 255, got 300$/);
    expect("tasks[0].exit_codes.retry[2]", 12, /range like "1-255" \(low to high, at most 255\).*got "9-3"$/);
    expect("tasks[1].command", 13, /^Missing required key "command"/);
    expect('tasks[1].env["BAD NAME"]', 15, /^Expected key "BAD NAME" in "env" to be an environment variable name$/);
    assert.equal(problems.length, 9, problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  });

  test("the error message lists each problem as file:line:column path: message", () => {
    const error = errorOf(() =>
      parseConfig("tasks:\n  - kind: a\n    command: x\n    max_retries: many\n", { env: {} }),
    );
    assert.equal(error.code, "INVALID_CONFIG");
    assert.equal(
      error.message,
      'Invalid configuration (1 error):\n  kiln.yaml:4:18 tasks[0].max_retries: Expected "max_retries" to be a whole number, got "many"',
    );
  });

  test("problems in a tasks file point into that file", () => {
    const dir = tempDir({
      "kiln.yaml": "worker: { concurrency: 0 }\n",
      "tasks/backup.yaml": "kind: backup\ncommand: run\ngrace_period_seconds: soon\n",
      "tasks/list.yaml": "- kind: ok\n  command: run\n- kind: bad\n  command: run\n  output_format: yaml\n",
    });
    const problems = problemsOf(() => loadConfig({ cwd: dir, env: {} }));
    assert.deepEqual(
      problems.map((p) => `${p.file}:${p.line} ${p.path}`).sort(),
      [
        "kiln.yaml:1 worker.concurrency",
        `${join("tasks", "backup.yaml")}:3 grace_period_seconds`,
        `${join("tasks", "list.yaml")}:5 [1].output_format`,
      ].sort(),
    );
  });

  test("duplicate kinds, shell secrets and stray input_args are located problems", () => {
    const dir = tempDir({
      "kiln.yaml": "tasks:\n  - kind: dup\n    command: a\n",
      "tasks/x.yaml":
        "- kind: dup\n  command: b\n- kind: s\n  shell: true\n  command: 'curl -H ${secret:TOKEN}'\n" +
        "- kind: i\n  command: c\n  input_args: [a]\n",
    });
    const problems = problemsOf(() => loadConfig({ cwd: dir, env: {} }));
    assert.equal(problems.length, 3);
    assert.match(problems[0]?.message ?? "", /"dup" is already declared at kiln\.yaml:2/);
    assert.equal(problems[0]?.line, 1);
    assert.match(problems[1]?.message ?? "", /cannot be spliced into shell text/);
    assert.match(problems[2]?.message ?? "", /input_args is only used with input_format: args/);
  });

  test("YAML syntax errors are located problems", () => {
    const problems = problemsOf(() => parseConfig("tasks:\n  - kind: a\n   command: [\n", { env: {} }));
    assert.ok(problems.length >= 1);
    assert.ok((problems[0]?.line ?? 0) >= 2);
  });

  test("TOML problems carry a best-effort line", () => {
    const text = [
      "[server]", //                 1
      'url = "http://x"', //          2
      "", //                          3
      "[worker]", //                  4
      "concurrency = 0", //           5
      "", //                          6
      "[[tasks]]", //                 7
      'kind = "a"', //                8
      'command = "x"', //             9
      "", //                          10
      "[[tasks]]", //                 11
      'kind = "b"', //                12
      'command = "y"', //             13
      'timeout_seconds = "abc"', //   14
      "[tasks.exit_codes]", //        15
      "retry = [999]", //             16
    ].join("\n");
    const problems = problemsOf(() => parseConfig(text, { file: "kiln.toml", env: {} }));
    assert.deepEqual(
      problems.map((p) => `${p.line} ${p.path}`),
      ["5 worker.concurrency", "14 tasks[1].timeout_seconds", "16 tasks[1].exit_codes.retry[0]"],
    );
    const syntax = problemsOf(() => parseConfig("[server\nurl = 1", { file: "kiln.toml", env: {} }));
    assert.equal(syntax[0]?.line, 1);
  });
});

describe("secret providers", () => {
  test("${secret:env|file|cmd|hcvault|aws:…} are collected as secrets of the task", () => {
    const config = parseConfig(
      "tasks:\n  - kind: a\n    command: run\n    env:\n" +
        "      A: '${secret:env:API_KEY}'\n      B: '${secret:file:/run/key}'\n      C: '${secret:cmd:pass show db}'\n" +
        "      D: '${secret:hcvault:secret/app#password}'\n      E: '${secret:aws:prod/db#password}'\n",
      { env: {} },
    );
    assert.deepEqual(config.tasks[0]?.secrets, [
      "env:API_KEY",
      "file:/run/key",
      "cmd:pass show db",
      "hcvault:secret/app#password",
      "aws:prod/db#password",
    ]);
  });

  // Regression: an unknown provider used to reach the script literally while validation said ok.
  test("an unknown provider is a located load error naming the reference", () => {
    const problems = problemsOf(() =>
      parseConfig("tasks:\n  - kind: a\n    command: run\n    env:\n      A: '${secret:vaulty:x}'\n", { env: {} }),
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.line, 5);
    assert.match(problems[0]?.message ?? "", /\$\{secret:vaulty:x\} names no secret provider \("vaulty"\); use one of/);
  });
});

describe("worker shutdown and probes", () => {
  test("shutdown_timeout takes seconds or a duration; health_port a port", () => {
    const of = (text: string) => parseConfig(`worker: { ${text} }\n`, { env: {} }).worker;
    assert.equal(of("shutdown_timeout: 5s").shutdownTimeoutMs, 5000);
    assert.equal(of("shutdown_timeout: 1.5").shutdownTimeoutMs, 1500);
    assert.equal(of("shutdown_timeout: 250ms").shutdownTimeoutMs, 250);
    assert.equal(of("shutdown_timeout: 1m").shutdownTimeoutMs, 60_000);
    assert.equal(of("health_port: 8081").healthPort, 8081);
    const problems = problemsOf(() => of("shutdown_timeout: soon"));
    assert.match(problems[0]?.message ?? "", /shutdown_timeout/);
  });
});
