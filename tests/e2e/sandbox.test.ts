/**
 * Sandboxed task kinds through a real `kiln dev` and the CLI: the script cannot read the data
 * directory (master key), sees none of the worker's environment, cannot write outside its paths
 * or connect anywhere with network off; `--sandbox` sets the default of kinds that set none; a
 * profile the machine cannot honour stops `kiln dev` at load with SANDBOX_UNAVAILABLE.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { NO_SANDBOX } from "../../src/config/resolve-sandbox.ts";
import { probeIsolation } from "../../src/exec/sandbox/isolation-probe.ts";
import { missingIsolation } from "../../src/exec/sandbox/sandbox-check.ts";
import { KILN_BIN, type KilnProcess, startKiln } from "./cli-support.ts";

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

  it("kiln dev refuses at load a kind whose sandbox this machine cannot honour", async () => {
    // No machine here starts scripts in the docker profile, so this refusal runs everywhere.
    const dir = project(
      "tasks:\n  - kind: contained\n    command: ./probe.sh\n    sandbox: { profile: docker, image: alpine }\n",
    );
    await assert.rejects(startKiln(["dev", "--port", "0"], dir), (error: Error) => {
      assert.match(error.message, /SANDBOX_UNAVAILABLE/);
      assert.match(error.message, /task kind contained asks for the docker sandbox/);
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
  });
});
