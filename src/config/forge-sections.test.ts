import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { KilnError } from "../errors.ts";
import { explicitSecretRef, withDefaultSecretProvider } from "../secrets/default-provider.ts";
import { createSecretResolver } from "../secrets/secret-resolver.ts";
import { loadConfig, parseConfig } from "./load-config.ts";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The message of the INVALID_CONFIG error that loading `text` throws. */
function refusal(text: string): string {
  try {
    parseConfig(text, { env: {} });
  } catch (error) {
    assert.ok(error instanceof KilnError);
    assert.equal(error.code, "INVALID_CONFIG");
    return error.message;
  }
  assert.fail("the config loaded");
}

describe("Forge config sections", () => {
  test("server.grpc_address host:port means http; a value that is no address is refused naming key and value", () => {
    const config = parseConfig('server:\n  grpc_address: "localhost:9090"\n', { env: {} });
    assert.equal(config.server.url, "http://localhost:9090");
    assert.equal(
      parseConfig('server: { url: "https://kiln.example" }', { env: {} }).server.url,
      "https://kiln.example",
    );
    const message = refusal('server:\n  grpc_address: "local host:90 90"\n');
    assert.match(message, /server\.grpc_address/);
    assert.match(message, /"local host:90 90"/);
    assert.match(refusal('server: { url: "ftp://files.example" }'), /server\.url.*host:port/);
  });

  test("logging: level and format for the worker, capture_stderr and size caps as task defaults", () => {
    const config = parseConfig(
      [
        "logging: { level: warning, format: json, capture_stderr: false, max_log_size_kb: 64, max_output_size_kb: 32 }",
        "tasks:",
        "  - { kind: a, command: echo }",
        "  - { kind: b, command: echo, capture_stderr: true, max_log_size_kb: 8 }",
      ].join("\n"),
      { env: {} },
    );
    assert.deepEqual(config.logging, {
      level: "warn",
      format: "json",
      captureStderr: false,
      maxLogSizeKb: 64,
      maxOutputSizeKb: 32,
    });
    const [a, b] = config.tasks;
    assert.equal(a?.captureStderr, false);
    assert.equal(a?.maxLogSizeKb, 64);
    assert.equal(a?.maxOutputSizeKb, 32);
    assert.equal(b?.captureStderr, true, "a task's own setting wins");
    assert.equal(b?.maxLogSizeKb, 8);
    assert.match(refusal("logging: { format: text }"), /logging\.format|"format"/);
  });

  test("secrets: the provider of bare references is chosen and validated", async () => {
    const config = parseConfig("secrets: { provider: env, env_prefix: APP_ }", { env: {} });
    assert.deepEqual(config.secrets, { provider: "env", envPrefix: "APP_", directory: null });
    assert.equal(explicitSecretRef("DB", config.secrets), "env:APP_DB");
    assert.equal(explicitSecretRef("file:/x", config.secrets), "file:/x", "an explicit reference wins");
    const resolver = withDefaultSecretProvider(createSecretResolver({ env: { APP_DB: "s3cret" } }), config.secrets);
    assert.equal(await resolver.resolveSecret("DB"), "s3cret");
    assert.equal(parseConfig("", { env: {} }).secrets.provider, "kiln");
    assert.match(refusal("secrets: { provider: hashicorp }"), /secrets\.provider|"provider"/);
    assert.match(refusal("secrets: { provider: env, region: x }"), /region/);
  });

  test("security: the sandbox section becomes the worker default; what Kiln cannot honour is refused naming the key", () => {
    const config = parseConfig(
      "security:\n  sandbox:\n    enabled: true\n    network: false\n    memory: 64M\n  allowed_paths: [/data]\n  run_as_user: 1000\n",
      { env: {} },
    );
    assert.equal(config.worker.sandbox.profile, "bubblewrap");
    assert.equal(config.worker.sandbox.network, "off");
    assert.equal(config.worker.sandbox.memoryBytes, 64 * 1024 * 1024);
    assert.deepEqual(config.worker.sandbox.writablePaths, ["/data"]);
    assert.equal(config.worker.sandbox.uid, 1000);
    assert.equal(
      parseConfig("security:\n  sandbox: { enabled: true, type: namespaces }\n", { env: {} }).worker.sandbox.profile,
      "namespaces",
    );
    assert.match(refusal("security:\n  sandbox: { enabled: true, seccomp: strict }\n"), /security\.sandbox\.seccomp/);
    assert.match(refusal("security:\n  allowed_paths: [/data]\n"), /security\.allowed_paths.*needs a sandbox/);
    assert.match(
      refusal("security:\n  sandbox: { enabled: true }\n  run_as_user: nobody\n"),
      /security\.run_as_user.*numeric/,
    );
    assert.match(refusal("security:\n  sandbox: { enabled: true, type: chroot }\n"), /sandbox type/);
    assert.match(refusal("security:\n  sandbox: { enabled: true }\nworker:\n  sandbox: namespaces\n"), /set twice/);
    parseConfig("security:\n  sandbox:\n    enabled: false\n    network: true\n  allowed_paths: []\n", { env: {} });
    assert.equal(parseConfig("", { env: {} }).worker.sandbox.profile, "none");
  });

  test("heartbeat_interval_seconds is honoured, not capped; the default stays 10 s", () => {
    assert.equal(
      parseConfig("worker: { heartbeat_interval_seconds: 30 }", { env: {} }).worker.heartbeatIntervalMs,
      30_000,
    );
    assert.equal(parseConfig("", { env: {} }).worker.heartbeatIntervalMs, 10_000);
  });

  test("--config DIR without kiln.yaml loads every *.yaml / *.toml in it", () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-forge-dir-"));
    dirs.push(dir);
    writeFileSync(join(dir, "forge.yaml"), "server: { grpc_address: 'localhost:9090', org_id: acme }\n");
    writeFileSync(join(dir, "logging.yaml"), "logging: { level: debug }\n");
    writeFileSync(join(dir, "tasks.yaml"), "tasks:\n  - { kind: hello, command: echo }\n");
    writeFileSync(join(dir, "more.toml"), '[[tasks]]\nkind = "bye"\ncommand = "echo"\n');
    const config = loadConfig({ file: dir, env: {} });
    assert.equal(config.server.namespace, "acme");
    assert.equal(config.logging.level, "debug");
    assert.deepEqual(config.tasks.map((t) => t.kind).sort(), ["bye", "hello"]);
    assert.equal(config.files.length, 4);
    writeFileSync(join(dir, "zz.yaml"), "logging: { level: info }\n");
    assert.throws(() => loadConfig({ file: dir, env: {} }), /"logging" is also set in/);
    const empty = mkdtempSync(join(tmpdir(), "kiln-forge-empty-"));
    dirs.push(empty);
    assert.throws(() => loadConfig({ file: empty, env: {} }), { code: "CONFIG_NOT_FOUND" });
  });
});
