/**
 * Sandboxed task kinds through a real `kiln dev` and the CLI: the script cannot read the data
 * directory (master key), sees none of the worker's environment, cannot write outside its paths
 * or connect anywhere with network off; `--sandbox` sets the default of kinds that set none; the
 * docker profile does the same in a container (real podman or docker), is killed at its memory
 * limit, and leaves no container behind a timeout or a cancel; a profile the machine cannot honour stops
 * `kiln dev` at load with SANDBOX_UNAVAILABLE.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { NO_SANDBOX } from "../../src/config/resolve-sandbox.ts";
import { probeContainerEngine, probeIsolation } from "../../src/exec/sandbox/isolation-probe.ts";
import { missingIsolation } from "../../src/exec/sandbox/sandbox-check.ts";
import { eventually, KILN_BIN, type KilnProcess, startKiln } from "./cli-support.ts";

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["KILN_NAMESPACE", "KILN_TOKEN", "KILN_SERVER", "KILN_CONFIG", "KILN_DATA"]) delete env[name];
  return env;
}

async function kilnIn(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv) {
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

/** The first profile this machine can run, or null with the reasons. */
function runnableProfile(): { profile: "bubblewrap" | "namespaces" | null; reason: string } {
  const reasons: string[] = [];
  for (const profile of ["bubblewrap", "namespaces"] as const) {
    const missing = missingIsolation({ ...NO_SANDBOX, profile }, probeIsolation(), () => ({
      ok: false,
      detail: "",
      engine: null,
    }));
    if (missing.length === 0) return { profile, reason: "" };
    reasons.push(...missing);
  }
  return { profile: null, reason: `no sandbox profile runs here: ${reasons.join("; ")}` };
}

const SCRIPT = `#!/bin/sh
echo "env:$(env | grep -c WORKER_ONLY_SECRET)"
if cat .kiln/master.key >/dev/null 2>&1; then echo "key:readable"; else echo "key:hidden"; fi
echo "data:$(ls -A .kiln | wc -l)"
if echo x > escaped.txt 2>/dev/null; then echo "write:escaped"; else echo "write:refused"; fi
echo ok > out/result.txt && echo "write:out"
node -e 'require("net").connect(1,"1.1.1.1").on("error",(e)=>{console.log("net:"+e.code);process.exit(0)}).on("connect",()=>{console.log("net:connected");process.exit(0)})'
kiln log "hello from the sandbox"
`;

describe("sandboxed task kinds under kiln dev", { timeout: 600_000 }, () => {
  const dirs: string[] = [];
  const procs: KilnProcess[] = [];
  after(async () => {
    for (const p of procs) await p.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const project = (yaml: string) => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-sandbox-e2e-"));
    dirs.push(dir);
    mkdirSync(join(dir, "out"));
    writeFileSync(join(dir, "probe.sh"), SCRIPT, { mode: 0o755 });
    writeFileSync(join(dir, "kiln.yaml"), yaml);
    return dir;
  };

  it("a sandboxed script sees no master key, no worker environment, no network, and writes only its paths", async (t) => {
    const { profile, reason } = runnableProfile();
    if (profile === null) return t.skip(reason);
    const dir = project(
      `tasks:\n  - kind: boxed\n    command: ./probe.sh\n    max_retries: 0\n    sandbox: { profile: ${profile}, network: off, writable_paths: [out], memory: 128M }\n  - kind: defaulted\n    command: ./probe.sh\n    max_retries: 0\n`,
    );
    const dev = await startKiln(["dev", "--port", "0", "--sandbox", profile], dir, { WORKER_ONLY_SECRET: "s3cret" });
    procs.push(dev);
    assert.ok(existsSync(join(dir, ".kiln", "master.key")), "kiln dev keeps its master key in the data directory");
    assert.match(dev.output(), /sandbox: cgroups: /, "the worker says what cgroups offer at start");
    for (const kind of ["boxed", "defaulted"]) {
      const result = await kilnIn(dir, ["--json", "run", kind, "--wait"], { KILN_SERVER: dev.url });
      assert.equal(result.code, 0, result.err);
      const run = JSON.parse(result.out) as { status: string; output: { stdout: string } };
      assert.equal(run.status, "completed");
      const stdout = run.output.stdout;
      assert.match(stdout, /env:0/);
      assert.match(stdout, /key:hidden/);
      assert.match(stdout, /data:0/);
      assert.match(stdout, /write:refused/);
      assert.match(stdout, /net:(ENETUNREACH|ECONNREFUSED|EACCES)/);
      assert.equal(existsSync(join(dir, "escaped.txt")), false);
      const logs = await kilnIn(dir, ["logs", (JSON.parse(result.out) as { id: string }).id], { KILN_SERVER: dev.url });
      assert.match(logs.out, /hello from the sandbox/);
    }
    const boxed = await kilnIn(dir, ["--json", "run", "boxed", "--wait"], { KILN_SERVER: dev.url });
    assert.match((JSON.parse(boxed.out) as { output: { stdout: string } }).output.stdout, /write:out/);
  });

  it("docker profile: the script runs in a container confined like the others, killed at its memory limit, and a timeout or cancel leaves no container", async (t) => {
    const engine = probeContainerEngine();
    const missing = missingIsolation({ ...NO_SANDBOX, profile: "docker" }, probeIsolation(), () => engine);
    if (missing.length > 0) return t.skip(`the docker profile cannot run here: ${missing.join("; ")}`);
    const docker = "{ profile: docker, network: off, writable_paths: [out]";
    const dir = project(
      `tasks:
  - kind: contained
    command: ./probe.sh
    max_retries: 0
    sandbox: ${docker}, memory: 256M }
  - kind: hog
    command: python3 -c "import itertools; b = [bytearray(8 * 1024 * 1024) for _ in itertools.count()]"
    shell: true
    max_retries: 0
    sandbox: ${docker}, memory: 64M }
  - kind: stuck
    command: trap "" TERM; hostname > "out/$KILN_RUN_ID"; sleep 300
    shell: true
    max_retries: 0
    timeout_seconds: 12
    grace_period_seconds: 1
    sandbox: ${docker} }
  - kind: held
    command: trap "" TERM; hostname > "out/$KILN_RUN_ID"; sleep 300
    shell: true
    max_retries: 0
    grace_period_seconds: 1
    sandbox: ${docker} }
`,
    );
    const dev = await startKiln(["dev", "--port", "0"], dir, { WORKER_ONLY_SECRET: "s3cret" });
    procs.push(dev);
    const run = async (kind: string) => {
      const result = await kilnIn(dir, ["--json", "run", kind, "--wait"], { KILN_SERVER: dev.url });
      return JSON.parse(result.out) as {
        id: string;
        status: string;
        output: { stdout: string } | null;
        error: { code: string; message: string } | null;
      };
    };
    const g = { KILN_SERVER: dev.url };
    const cancelStuck = async () => {
      const id = (await kilnIn(dir, ["run", "held"], g)).out.trim();
      await eventually(async () => (existsSync(join(dir, "out", id)) ? true : undefined), 120_000);
      const cancelled = await kilnIn(dir, ["cancel", id], g);
      assert.equal(cancelled.code, 0, cancelled.err);
      return await eventually(async () => {
        const status = JSON.parse((await kilnIn(dir, ["--json", "status", id], g)).out) as { status: string };
        return status.status === "cancelled" ? id : undefined;
      }, 120_000);
    };
    // Containers start slowly on a busy machine: the kinds run at once.
    const [contained, hog, stuck, cancelledId] = await Promise.all([
      run("contained"),
      run("hog"),
      run("stuck"),
      cancelStuck(),
    ]);
    assert.equal(contained.status, "completed", JSON.stringify(contained.error));
    const stdout = contained.output?.stdout ?? "";
    assert.match(stdout, /env:0/);
    assert.match(stdout, /key:hidden/);
    assert.match(stdout, /data:0/);
    assert.match(stdout, /write:refused/);
    assert.match(stdout, /write:out/);
    assert.match(stdout, /net:(ENETUNREACH|ECONNREFUSED|EACCES)/);
    assert.equal(existsSync(join(dir, "escaped.txt")), false);
    const logs = await kilnIn(dir, ["logs", contained.id], { KILN_SERVER: dev.url });
    assert.match(logs.out, /hello from the sandbox/);

    assert.equal(hog.status, "failed");
    assert.equal(hog.error?.code, "SANDBOX_MEMORY_LIMIT", JSON.stringify(hog.error));
    assert.match(hog.error?.message ?? "", /memory limit of 64 MiB/);
    // podman's conmon writes an `oom` file where the CLI started: never in the script's directory.
    assert.equal(existsSync(join(dir, "oom")), false);

    assert.equal(stuck.status, "failed");
    assert.equal(stuck.error?.code, "EXEC_TIMEOUT", JSON.stringify(stuck.error));
    // It ignored SIGTERM, so its CLI was killed; the container's hostname is its id: it is gone too,
    // after the timeout as after the cancel.
    const ps = await promisify(execFile)(engine.engine ?? "", [
      ...(engine.cliArgs ?? []),
      "ps",
      "-a",
      "--format",
      "{{.ID}}",
    ]);
    for (const runId of [stuck.id, cancelledId]) {
      const id = readFileSync(join(dir, "out", runId), "utf8").trim();
      assert.match(id, /^[0-9a-f]{12}$/);
      assert.doesNotMatch(ps.stdout, new RegExp(`^${id}`, "m"), "no container is left after the timeout or cancel");
    }
  });

  it("kiln dev refuses at load a kind whose sandbox this machine cannot honour", async () => {
    // With no container engine on the worker's PATH, no machine can run the docker profile.
    const dir = project(
      "tasks:\n  - kind: contained\n    command: ./probe.sh\n    sandbox: { profile: docker, image: alpine }\n",
    );
    const empty = mkdtempSync(join(tmpdir(), "kiln-no-engine-"));
    dirs.push(empty);
    await assert.rejects(startKiln(["dev", "--port", "0"], dir, { PATH: empty }), (error: Error) => {
      assert.match(error.message, /SANDBOX_UNAVAILABLE/);
      assert.match(error.message, /task kind contained asks for the docker sandbox/);
      assert.match(
        error.message,
        /no container engine can run containers: docker is not installed; podman is not installed/,
      );
      return true;
    });
  });

  it("kiln doctor (the block of docs/security.md) prints what isolation works here", async () => {
    const dir = project("tasks: []\n");
    const doc = readFileSync(new URL("../../docs/security.md", import.meta.url), "utf8");
    const block = /<!-- run-by: tests\/e2e\/sandbox.test.ts -->\n```sh\n([^`]*)```/.exec(doc)?.[1]?.trim();
    assert.equal(block, "kiln doctor");
    const result = await kilnIn(dir, block.split(" ").slice(1), {});
    assert.equal(result.code, 0, result.err);
    assert.match(result.out, /cgroups: /);
    assert.match(result.out, /(ok|no) +bubblewrap: /);
    assert.match(result.out, /(ok|no) +namespaces, network off/);
    assert.match(result.out, /(ok|no) +containers \(docker\/podman\): /);
    assert.match(result.out, /(ok|no) +docker, network off/);
  });
});
