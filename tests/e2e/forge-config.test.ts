/**
 * A Forge-format config (tests/e2e/fixtures/forge, unchanged) runs its example tasks through the
 * CLI: against `kiln dev --config forge.yaml`, and against `kiln server` + `kiln worker --config`.
 * The CLI runs as a real process in the config's directory, as a user would type it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { KILN_BIN, type KilnProcess, startKiln } from "./cli-support.ts";

const FIXTURE = new URL("./fixtures/forge/", import.meta.url).pathname;

/** This process's environment without KILN_* settings, so only the test's own reach the CLI. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["KILN_NAMESPACE", "KILN_TOKEN", "KILN_SERVER", "KILN_CONFIG", "KILN_DATA"]) delete env[name];
  return env;
}

/** Runs `kiln <args>` as a process in `cwd`; never throws on a non-zero exit. */
async function kilnIn(
  cwd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [KILN_BIN, ...args], {
      cwd,
      env: { ...cleanEnv(), ...env },
      timeout: 120_000,
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, out: e.stdout ?? "", err: e.stderr ?? "" };
  }
}

interface RunJson {
  readonly id: string;
  readonly namespace: string;
  readonly status: string;
  readonly output: unknown;
  readonly attempt: number;
}

/** `kiln run KIND -i INPUT --wait --json` in `cwd`: the finished run. */
async function runTask(cwd: string, kind: string, input: unknown, env: NodeJS.ProcessEnv) {
  const result = await kilnIn(cwd, ["--json", "run", kind, "-i", JSON.stringify(input), "--wait"], env);
  assert.ok(result.out.trim().startsWith("{"), `kiln run ${kind} printed no run: ${result.err}`);
  return { code: result.code, run: JSON.parse(result.out) as RunJson, err: result.err };
}

/** Runs the Forge example tasks through the CLI in `dir` and checks each outcome. */
async function runForgeExamples(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const echo = await runTask(dir, "echo-json", { name: "Forge" }, env);
  assert.equal(echo.code, 0, echo.err);
  assert.equal(echo.run.status, "completed");
  assert.equal(echo.run.namespace, "acme", "org_id is the namespace");
  assert.deepEqual(echo.run.output, { greeting: "hello Forge", attempt: 1 });

  const failing = await runTask(dir, "failing", {}, env);
  assert.equal(failing.code, 1);
  assert.equal(failing.run.status, "failed");
  assert.equal(failing.run.attempt, 1, "max_retries: 0 means one attempt");

  const retry = await runTask(dir, "retry-exit", {}, env);
  assert.equal(retry.code, 0, retry.err);
  assert.equal(retry.run.status, "completed");
  assert.equal(retry.run.attempt, 3, "exit 75 retried until SUCCEED_ON=3");

  const slow = await runTask(dir, "slow", {}, env);
  assert.equal(slow.code, 0, slow.err);
  assert.equal(slow.run.status, "completed");
}

describe("a Forge-format config, unchanged", { timeout: 900_000 }, () => {
  const token = `forge-e2e-token-${process.pid}-${Date.now()}`;
  const dirs: string[] = [];
  const procs: KilnProcess[] = [];

  const forgeDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-forge-"));
    dirs.push(dir);
    cpSync(FIXTURE, dir, { recursive: true });
    return dir;
  };

  after(async () => {
    for (const p of procs) await p.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("the README's Forge section shows this very config", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    assert.ok(readme.includes(`\`\`\`yaml\n${readFileSync(join(FIXTURE, "forge.yaml"), "utf8")}\`\`\``));
  });

  describe("under kiln dev --config forge.yaml", () => {
    let dir: string;
    let dev: KilnProcess;
    // The config says localhost:9090; the test binds a free port and points the CLI there.
    let env: NodeJS.ProcessEnv;

    before(async () => {
      dir = forgeDir();
      dev = await startKiln(["dev", "--config", "forge.yaml", "--port", "0"], dir, { FORGE_WORKER_TOKEN: token });
      procs.push(dev);
      env = { FORGE_WORKER_TOKEN: token, KILN_SERVER: dev.url };
    });

    it("runs the example tasks through the CLI in the config's directory (its token, its org_id namespace)", async () => {
      assert.match(dev.output(), /Serving namespaces: default, acme/);
      await runForgeExamples(dir, env);
    });

    it("the CLI takes the namespace from its token when none is given", async () => {
      const elsewhere = mkdtempSync(join(tmpdir(), "kiln-forge-cli-"));
      dirs.push(elsewhere);
      const { code, run, err } = await runTask(
        elsewhere,
        "echo-json",
        { name: "token" },
        {
          KILN_SERVER: dev.url,
          KILN_TOKEN: token,
        },
      );
      assert.equal(code, 0, err);
      assert.equal(run.namespace, "acme");
    });

    it("serves the default namespace too", async () => {
      const elsewhere = mkdtempSync(join(tmpdir(), "kiln-forge-default-"));
      dirs.push(elsewhere);
      const { code, run, err } = await runTask(elsewhere, "echo-json", { name: "default" }, { KILN_SERVER: dev.url });
      assert.equal(code, 0, err);
      assert.equal(run.namespace, "default");
    });

    it("a kiln worker --config forge.yaml against the dev server gets in with the config's token", async () => {
      const worker = await startKiln(["worker", "--config", "forge.yaml", "--name", "forge-remote"], dir, env);
      procs.push(worker);
      const listed = await kilnIn(dir, ["--json", "list", "workers"], env);
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.out, /forge-remote/);
      await worker.stop();
    });
  });

  describe("under kiln server + kiln worker --config forge.yaml", () => {
    let dir: string;
    let env: NodeJS.ProcessEnv;

    before(async () => {
      dir = forgeDir();
      const server = await startKiln(["server", "--port", "0", "--data", join(dir, ".kiln-server")], dir);
      procs.push(server);
      const admin = readFileSync(join(dir, ".kiln-server", "admin-token"), "utf8").trim();
      // An operator creates the namespace and the tokens; the config stays as it is.
      const created = await fetch(`${server.url}/v1/namespaces`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "acme" }),
      });
      assert.ok(created.ok, await created.text());
      const tokenOf = async (role: string) => {
        const r = await kilnIn(
          dir,
          ["--json", "--namespace", "acme", "tokens", "create", "--name", role, "--role", role],
          {
            KILN_SERVER: server.url,
            KILN_TOKEN: admin,
          },
        );
        assert.equal(r.code, 0, r.err);
        return (JSON.parse(r.out) as { token: string }).token;
      };
      const workerToken = await tokenOf("worker");
      const developerToken = await tokenOf("developer");
      const worker = await startKiln(["worker", "--config", "forge.yaml"], dir, {
        KILN_SERVER: server.url,
        FORGE_WORKER_TOKEN: workerToken,
      });
      procs.push(worker);
      env = { KILN_SERVER: server.url, KILN_TOKEN: developerToken, FORGE_WORKER_TOKEN: workerToken };
    });

    it("runs the example tasks through the CLI", async () => {
      await runForgeExamples(dir, env);
    });
  });
});
