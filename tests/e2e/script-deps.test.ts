/**
 * Script dependencies and remote scripts through a real `kiln dev`: a Python task with
 * requirements built from a local package index and reused by the next run, a failing build, a
 * git-sourced script pinned to a commit of a local bare repository, a branch with refresh whose
 * commit is recorded on the run, and an HTTP script refused for a wrong sha256.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  buildTinyWheel,
  createGitRepo,
  type FixtureServer,
  startFixtureServer,
} from "../../src/exec/dependency-fixtures.ts";
import type { Run } from "../../src/engine/run.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("script dependencies and remote scripts in kiln dev", { timeout: 400_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let server: FixtureServer;
  let g: string[];
  let pinned: string;
  let branchHead: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-e2e-deps-"));
    server = await startFixtureServer();
    server.addWheel("kilntiny", buildTinyWheel(join(dir, "wheels"), "kilntiny", "1.0", "tiny-ok"));
    server.put("/scripts/changed.sh", "echo changed\n");
    const repo = createGitRepo(join(dir, "git"));
    pinned = repo.commit({ "hello.sh": '#!/bin/sh\necho "pinned says $1"\n' });
    branchHead = repo.commit({ "hello.sh": '#!/bin/sh\necho "branch says $1"\n' });
    writeFileSync(
      join(dir, "kiln.yaml"),
      `worker:
  dependencies:
    pip_index_url: "${server.url}/simple"
tasks:
  - kind: py-deps
    command: python3
    args: ["-c", "import kilntiny, sys; print(kilntiny.VALUE, sys.prefix != sys.base_prefix)"]
    requirements: [kilntiny==1.0]
  - kind: py-broken
    command: python3
    args: ["-c", "print('never')"]
    requirements: [kiln-no-such-package==1.0]
    max_retries: 0
  - kind: git-pinned
    command: sh
    args: [hello.sh, world]
    source: { git: ./git/repo.git, commit: ${pinned} }
  - kind: git-branch
    command: sh
    args: [hello.sh, world]
    source: { git: ./git/repo.git, branch: main, refresh: 1h }
  - kind: http-wrong-sha
    command: sh
    args: [changed.sh]
    source: { url: "${server.url}/scripts/changed.sh", sha256: "${sha256("echo original\n")}" }
    max_retries: 0
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });

  after(async () => {
    await dev?.stop();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const runToEnd = async (kind: string): Promise<Run> => {
    const started = await kiln([...g, "run", kind]);
    assert.equal(started.code, 0, started.err);
    const id = started.out.trim();
    return await eventually(async () => {
      const s = (await kiln([...g, "status", id, "--json"])).json() as Run;
      return s.status === "completed" || s.status === "failed" ? s : undefined;
    }, 240_000);
  };
  const logsOf = async (id: string) => (await kiln([...g, "logs", id])).out;

  it("a Python task with requirements runs in its venv, and a second run reuses the environment", async () => {
    const first = await runToEnd("py-deps");
    assert.equal(first.status, "completed", JSON.stringify(first.error));
    assert.deepEqual(first.output, { stdout: "tiny-ok True" });
    const firstLogs = await logsOf(first.id);
    assert.match(firstLogs, /Building the Python environment/);
    assert.match(firstLogs, /\[pip install\]/);

    const second = await runToEnd("py-deps");
    assert.equal(second.status, "completed", JSON.stringify(second.error));
    assert.deepEqual(second.output, { stdout: "tiny-ok True" });
    const secondLogs = await logsOf(second.id);
    assert.doesNotMatch(secondLogs, /Building the Python environment/);
    assert.match(secondLogs, /Using the cached Python environment/);
  });

  it("a failing build fails the run with DEPENDENCY_BUILD_FAILED and the installer's output", async () => {
    const run = await runToEnd("py-broken");
    assert.equal(run.status, "failed");
    assert.equal(run.error?.code, "DEPENDENCY_BUILD_FAILED");
    assert.match(run.error?.message ?? "", /pip install exited with code 1/);
    assert.match(run.error?.message ?? "", /kiln-no-such-package/);
  });

  it("a git-sourced script pinned to a commit of a local bare repository runs and records the commit", async () => {
    const run = await runToEnd("git-pinned");
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { stdout: "pinned says world" });
    assert.equal(run.state.source_commit, pinned);
  });

  it("a branch with refresh runs its head and records the resolved commit on the run", async () => {
    const run = await runToEnd("git-branch");
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { stdout: "branch says world" });
    assert.equal(run.state.source_commit, branchHead);
    assert.match(await logsOf(run.id), new RegExp(`at commit ${branchHead}`));
    const status = await kiln([...g, "status", run.id]);
    assert.match(status.out, new RegExp(`"source_commit":"${branchHead}"`));
  });

  it("an HTTP-sourced script with a wrong sha256 is refused", async () => {
    const run = await runToEnd("http-wrong-sha");
    assert.equal(run.status, "failed");
    assert.equal(run.error?.code, "SOURCE_CHECKSUM_MISMATCH");
    assert.match(run.error?.message ?? "", /source\.sha256/);
  });
});
