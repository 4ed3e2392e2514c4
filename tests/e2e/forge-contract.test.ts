// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell ${…} syntax appears in plain strings on purpose.
/**
 * The Forge contract through the CLI against a real `kiln dev`: the local API as the design
 * documents it (curl lines, bare state values, log details and `warn`), KILN_WORKFLOW_NAME for
 * tasks started by workflows, and the opt-in FLOVYN_* aliases.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import type { LogEntry } from "../../src/engine/log-entry.ts";
import { type SecretManagerStub, startAwsSecretsStub, startVaultStub } from "../support/secret-manager-stubs.ts";
import { type KilnProcess, kiln, startKiln } from "./cli-support.ts";

// The calls README.md shows, word for word (curl against the per-process socket, with the
// attempt's token).
const API_SCRIPT = `set -eu
api() { curl -sS --fail-with-body --unix-socket "$KILN_API_SOCKET" -H "Authorization: Bearer $KILN_API_TOKEN" "$@"; }
api -X PUT http://kiln/state/count -d '42' >/dev/null
api -X PUT http://kiln/state/doc -d '{"a":1}' >/dev/null
api -X POST http://kiln/log -d '{"level":"warn","message":"disk almost full","details":{"disk":"92%"}}' >/dev/null
echo "::log level=warn::from the protocol"
printf '{"workflow":"%s","flovynRun":"%s","run":"%s","count":%s}\\n' \\
  "$KILN_WORKFLOW_NAME" "\${FLOVYN_RUN_ID:-}" "$KILN_RUN_ID" "$(api http://kiln/state/count)"
`;

describe("Forge contract: the local API and the context env (kiln dev)", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-forge-"));
    mkdirSync(join(dir, "workflows"));
    writeFileSync(join(dir, "api.sh"), API_SCRIPT);
    writeFileSync(join(dir, "plain.sh"), 'printf \'{"flovyn":"%s"}\' "${FLOVYN_RUN_ID:-unset}"\n');
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker: { name: forge-worker, queue: default }
tasks:
  - kind: api-script
    command: bash
    args: ["api.sh"]
    output_format: json_stdout
    flovyn_env: true
  - kind: plain-script
    command: bash
    args: ["plain.sh"]
    output_format: json_stdout
`,
    );
    writeFileSync(
      join(dir, "workflows", "forge-flow.js"),
      'async function workflow(input, { task }) {\n  return await task("api-script", {});\n}\n',
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runTask(kind: string): Promise<Run> {
    const r = await kiln([...g, "run", kind, "--wait", "--json"]);
    assert.equal(r.code, 0, r.err + r.out);
    return r.json() as Run;
  }

  it("curl to the local API: a bare JSON value is stored (not deleted), warn and details are kept", async () => {
    const run = await runTask("api-script");
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.state, { count: "42", doc: '{"a":1}' });
    const output = run.output as { count: unknown; workflow: string; flovynRun: string; run: string };
    assert.deepEqual(output.count, { key: "count", value: "42" });
    assert.equal(output.workflow, "", "no workflow started this run");
    assert.equal(output.flovynRun, run.id, "flovyn_env: true gives FLOVYN_RUN_ID");
    const logs = await kiln([...g, "--json", "logs", run.id]);
    const entries = logs.out
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as LogEntry);
    const api = entries.find((e) => e.message.startsWith("disk almost full"));
    assert.equal(api?.level, "warning");
    assert.equal(api?.message, 'disk almost full {"disk":"92%"}');
    assert.equal(entries.find((e) => e.message === "from the protocol")?.level, "warning");
  });

  it("KILN_WORKFLOW_NAME names the workflow that started the task", async () => {
    const r = await kiln([...g, "start", "forge-flow", "--wait", "--json"]);
    assert.equal(r.code, 0, r.err + r.out);
    const run = r.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.equal((run.output as { workflow: string }).workflow, "forge-flow");
  });

  it("FLOVYN_* aliases are opt-in", async () => {
    const run = await runTask("plain-script");
    assert.deepEqual(run.output, { flovyn: "unset" });
  });
});

// Each secret reaches the script through env; the script prints it (masked to *** in the output)
// and its length (which proves the real value arrived).
const SECRETS_SCRIPT = `printf '{"values":"%s|%s|%s|%s|%s","lengths":[%d,%d,%d,%d,%d]}' \\
  "$S_ENV" "$S_FILE" "$S_CMD" "$S_HCVAULT" "$S_AWS" \\
  "\${#S_ENV}" "\${#S_FILE}" "\${#S_CMD}" "\${#S_HCVAULT}" "\${#S_AWS}"
`;

describe("Forge contract: secret managers reachable from kiln.yaml (kiln dev)", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];
  let vault: SecretManagerStub;
  let aws: SecretManagerStub;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-forge-secrets-"));
    vault = await startVaultStub({
      secrets: { "secret/app": { password: "vault-pass-123" } },
      roleId: "role-1",
      secretId: "secret-1",
    });
    aws = await startAwsSecretsStub({ "prod/db": '{"password":"aws-pass-12345"}' });
    writeFileSync(join(dir, "secrets.sh"), SECRETS_SCRIPT);
    writeFileSync(join(dir, "key.txt"), "file-pass-1\n");
    writeFileSync(
      join(dir, "kiln.yaml"),
      `tasks:
  - kind: secrets-script
    command: bash
    args: ["secrets.sh"]
    output_format: json_stdout
    env:
      S_ENV: "\${secret:env:FORGE_API_KEY}"
      S_FILE: "\${secret:file:key.txt}"
      S_CMD: "\${secret:cmd:printf cmd-pass-1234}"
      S_HCVAULT: "\${secret:hcvault:secret/app#password}"
      S_AWS: "\${secret:aws:prod/db#password}"
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir, {
      FORGE_API_KEY: "env-pass-1",
      VAULT_ADDR: vault.url,
      VAULT_ROLE_ID: "role-1",
      VAULT_SECRET_ID: "secret-1",
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      AWS_ACCESS_KEY_ID: "AKIDTEST",
      AWS_SECRET_ACCESS_KEY: "test-secret",
    });
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });

  after(async () => {
    await dev?.stop();
    await vault?.close();
    await aws?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("env:, file:, cmd:, hcvault: (AppRole, KV v2) and aws: reach the script, masked in the output", async () => {
    const r = await kiln([...g, "run", "secrets-script", "--wait", "--json"]);
    assert.equal(r.code, 0, r.err + r.out);
    const run = r.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { values: "***|***|***|***|***", lengths: [10, 11, 13, 14, 14] });
    assert.ok(vault.requests.includes("POST /v1/auth/approle/login"));
    assert.ok(vault.requests.includes("GET /v1/secret/data/app"));
    assert.ok(aws.requests.includes("secretsmanager.GetSecretValue prod/db"));
  });

  it("kiln validate accepts the providers and refuses an unknown one (it reached scripts literally)", async () => {
    assert.equal((await kiln(["validate", join(dir, "kiln.yaml")])).code, 0);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, 'tasks:\n  - kind: x\n    command: run\n    env:\n      A: "${secret:vaulty:x}"\n');
    const r = await kiln(["validate", bad]);
    assert.notEqual(r.code, 0);
    assert.match(r.err + r.out, /bad\.yaml:5:.*\$\{secret:vaulty:x\} names no secret provider/);
  });
});

describe("Forge contract: input_schema and secret_fields (kiln dev)", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-forge-input-"));
    writeFileSync(
      join(dir, "deploy.sh"),
      'echo "deploying $INPUT_ENV with $INPUT_PASSWORD and $INPUT_TOKEN" >&2\nprintf \'{"echo":"%s/%s","lengths":[%d,%d]}\' "$INPUT_PASSWORD" "$INPUT_TOKEN" "${#INPUT_PASSWORD}" "${#INPUT_TOKEN}"\n',
    );
    writeFileSync(
      join(dir, "deploy.schema.json"),
      JSON.stringify({
        type: "object",
        required: ["env", "password"],
        properties: {
          env: { enum: ["staging", "prod"] },
          replicas: { type: "integer", minimum: 1 },
          password: { type: "string", "x-secret": true },
          token: { type: "string" },
        },
        additionalProperties: false,
      }),
    );
    writeFileSync(
      join(dir, "kiln.yaml"),
      `tasks:
  - kind: deploy
    command: bash
    args: ["deploy.sh"]
    output_format: json_stdout
    input_schema: deploy.schema.json
    secret_fields: [token]
  - kind: greet
    command: bash
    args: ["-c", 'echo "hi $INPUT_NAME"']
    input_schema: { type: object, required: [name], properties: { name: { type: string, minLength: 1 } } }
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runCount(): Promise<number> {
    const r = await kiln([...g, "list", "runs", "--json"]);
    return (r.json() as { items: unknown[] }).items.length;
  }

  it("kiln run refuses an input that does not match, naming the field, and creates no run", async () => {
    const before = await runCount();
    const bad = await kiln([...g, "run", "deploy", "-i", '{"env":"dev","replicas":0}']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.err, /INVALID_INPUT/);
    assert.match(bad.err, /"env" must be equal to one of the allowed values/);
    assert.match(bad.err, /"replicas" must be >= 1/);
    assert.match(bad.err, /"password" is required/);
    const inline = await kiln([...g, "run", "greet", "-i", '{"name":""}']);
    assert.match(inline.err, /INVALID_INPUT.*"name" must NOT have fewer than 1 characters/s);
    assert.equal(await runCount(), before);
  });

  it("POST /v1/runs answers 400 INVALID_INPUT with the field", async () => {
    const response = await fetch(`${dev.url}/v1/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "task", name: "greet", input: {} }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "INVALID_INPUT");
    assert.match(body.error.message, /"name" is required/);
  });

  it("a valid input runs; x-secret and secret_fields values are masked in logs and output", async () => {
    const r = await kiln([
      ...g,
      "run",
      "deploy",
      "-i",
      '{"env":"prod","password":"hunter2-pw","token":"tok-secret-9"}',
      "--wait",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err + r.out);
    const run = r.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    // The script got the real values (their lengths), everything recorded shows ***.
    assert.deepEqual(run.output, { echo: "***/***", lengths: [10, 12] });
    const logs = await kiln([...g, "logs", run.id]);
    assert.match(logs.out, /deploying prod with \*\*\* and \*\*\*/);
    assert.doesNotMatch(logs.out, /hunter2-pw|tok-secret-9/);
    // The stored input holds the secret fields sealed; the database files never hold the values.
    const input = run.input as Record<string, unknown>;
    assert.equal(input.env, "prod");
    for (const field of ["password", "token"]) assert.match(JSON.stringify(input[field]), /^\{"\$sealed":"kiln:v1:/);
    const status = await kiln([...g, "status", run.id, "--json"]);
    assert.doesNotMatch(status.out, /hunter2-pw|tok-secret-9/);
    for (const file of readdirSync(join(dir, ".kiln")).filter((f) => f.startsWith("kiln.db"))) {
      assert.doesNotMatch(readFileSync(join(dir, ".kiln", file), "latin1"), /hunter2-pw|tok-secret-9/, file);
    }
  });
});

describe("sealed secret fields through kiln server + a remote kiln worker", { timeout: 180_000 }, () => {
  let dir: string;
  const procs: KilnProcess[] = [];

  after(async () => {
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the server seals, the remote worker gets the values opened, the API shows ciphertext", async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-sealed-remote-"));
    writeFileSync(
      join(dir, "login.sh"),
      'echo "login with $INPUT_PASSWORD" >&2\nprintf \'{"length":%d}\' "${#INPUT_PASSWORD}"\n',
    );
    writeFileSync(
      join(dir, "kiln.yaml"),
      `tasks:
  - kind: login
    command: bash
    args: ["login.sh"]
    output_format: json_stdout
    input_schema: { type: object, properties: { user: { type: string }, password: { type: string, x-secret: true } } }
`,
    );
    const data = join(dir, ".kiln-server");
    const server = await startKiln(["server", "--port", "0", "--data", data], dir);
    procs.push(server);
    const admin = readFileSync(join(data, "admin-token"), "utf8").trim();
    const as = ["--server", server.url, "--token", admin];
    const created = await kiln([...as, "--json", "tokens", "create", "--name", "w", "--role", "worker"]);
    assert.equal(created.code, 0, created.err);
    const workerToken = (created.json() as { token: string }).token;
    procs.push(
      await startKiln(["worker", "--name", "remote-1"], dir, { KILN_SERVER: server.url, KILN_TOKEN: workerToken }),
    );
    const ran = await kiln([
      ...as,
      "run",
      "login",
      "-i",
      '{"user":"ada","password":"s3cret-remote"}',
      "--wait",
      "--json",
    ]);
    assert.equal(ran.code, 0, ran.err + ran.out);
    const run = ran.json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { length: 13 });
    assert.match(JSON.stringify(run.input), /"password":\{"\$sealed":"kiln:v1:/);
    const logs = await kiln([...as, "logs", run.id]);
    assert.match(logs.out, /login with \*\*\*/);
    assert.doesNotMatch(logs.out + JSON.stringify(run), /s3cret-remote/);
    // An admin token cannot open sealed fields: only worker tokens may.
    const refused = await fetch(`${server.url}/v1/worker/unseal`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ input: run.input }),
    });
    assert.equal(refused.status, 403);
  });
});
