/**
 * `kiln init`, `kiln dev`, `kiln validate` and `kiln deploy` as a project uses them: the dev URL
 * found beside it, one dev per data directory, hot reload through atomic saves, a .gitignore and a
 * `$schema` that resolves, validate and deploy refusing the same flows, errors at the right file,
 * and a missing secret failing at once instead of being retried.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { eventually, KILN_BIN, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const UNKNOWN_NODE_FLOW = `nodes:
  first:
    type: no-such-node-type
`;

describe("kiln dev and kiln init in a project", { timeout: 240_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let data: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-cli-project-"));
    const init = await kiln(["init", dir]);
    assert.equal(init.code, 0, init.err);
    writeFileSync(
      join(dir, "kiln.yaml"),
      `${readFileSync(join(dir, "kiln.yaml"), "utf8")}
  - kind: needs-missing-secret
    command: bash
    args: ["-c", "echo \\"$MISSING\\""]
    env: { MISSING: "\${secret:NEVER_SET}" }
    max_retries: 3
`,
    );
    data = join(dir, ".kiln");
    dev = await startKiln(["dev", "--port", "0"], dir);
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("init writes a .gitignore for the data directory and a $schema path that resolves", () => {
    assert.match(readFileSync(join(dir, ".gitignore"), "utf8"), /^\.kiln\/$/m);
    const first = readFileSync(join(dir, "kiln.yaml"), "utf8").split("\n")[0] ?? "";
    const schema = /\$schema=(\S+)/.exec(first)?.[1];
    assert.ok(schema, first);
    assert.ok(existsSync(resolve(dir, schema)), `${schema} does not resolve from ${dir}`);
  });

  it("the CLI finds kiln dev --port N through the data directory, over the config's URL", async () => {
    assert.doesNotMatch(dev.url, /:7700$/);
    assert.equal(JSON.parse(readFileSync(join(data, "dev.json"), "utf8")).url, dev.url);
    // The config names http://127.0.0.1:7700; the running dev wins.
    const r = await kiln(["--config", join(dir, "kiln.yaml"), "--data", data, "list", "workflows", "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(
      (r.json() as { items: { name: string }[] }).items.map((w) => w.name),
      ["hello"],
    );
  });

  it("a second kiln dev on the same data directory refuses to start, naming the first", async () => {
    await assert.rejects(startKiln(["dev", "--port", "0"], dir), (error: Error) => {
      assert.match(error.message, /DEV_ALREADY_RUNNING/);
      assert.match(error.message, new RegExp(`pid ${dev.child.pid}`));
      return true;
    });
  });

  it("hot reload survives atomic saves (sed -i) of the config and of a workflow", async () => {
    const reloads = () => dev.output().split("Config reloaded").length - 1;
    const before = reloads();
    execFileSync("sed", ["-i", "s/concurrency: 8/concurrency: 7/", join(dir, "kiln.yaml")]);
    await eventually(async () => (reloads() > before ? true : undefined));
    // The watch outlives the replaced file: a second atomic save reloads again.
    execFileSync("sed", ["-i", "s/concurrency: 7/concurrency: 6/", join(dir, "kiln.yaml")]);
    await eventually(async () => (reloads() > before + 1 ? true : undefined));
    execFileSync("sed", ["-i", "s/Hello, /Hi, /", join(dir, "workflows", "hello.js")]);
    await eventually(async () => (/Deployed hello version 2/.test(dev.output()) ? true : undefined));
  });

  it("kiln validate with no files checks the config and every workflow under workflows/", async () => {
    const project = mkdtempSync(join(tmpdir(), "kiln-validate-"));
    try {
      assert.equal((await kiln(["init", project])).code, 0);
      const ok = await kiln(["--config", join(project, "kiln.yaml"), "validate"]);
      assert.equal(ok.code, 0, ok.err);
      assert.match(ok.out, /kiln\.yaml: ok/);
      assert.match(ok.out, /hello\.js: ok/);
      writeFileSync(join(project, "workflows", "bad.yaml"), UNKNOWN_NODE_FLOW);
      writeFileSync(join(project, "workflows", "broken.js"), "async function workflow(input) {\n  return (;\n}\n");
      const bad = await kiln(["--config", join(project, "kiln.yaml"), "validate"]);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /bad\.yaml:\d+:\d+: .*no-such-node-type/);
      assert.match(bad.err, /broken\.js/);
      assert.doesNotMatch(bad.err, /broken\.ts/);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  it("kiln deploy refuses a flow kiln validate refuses (unknown node type)", async () => {
    const file = join(dir, "unknown.yaml");
    writeFileSync(file, UNKNOWN_NODE_FLOW);
    const validate = await kiln(["validate", file]);
    assert.equal(validate.code, 1);
    const deploy = await kiln(["--server", dev.url, "--data", data, "deploy", "unknown", "-f", file]);
    assert.equal(deploy.code, 1);
    assert.match(deploy.err, /INVALID_INPUT.*\n.*no-such-node-type/);
    const list = await kiln(["--server", dev.url, "--data", data, "list", "workflows", "--json"]);
    assert.ok(!(list.json() as { items: { name: string }[] }).items.some((w) => w.name === "unknown"));
  });

  it("a syntax error in x.js is reported at x.js (deploy and kiln dev)", async () => {
    const file = join(dir, "x.js");
    writeFileSync(file, "async function workflow(input) {\n  return (;\n}\n");
    const deploy = await kiln(["--server", dev.url, "--data", data, "deploy", "x", "-f", file]);
    assert.equal(deploy.code, 1);
    assert.match(deploy.err, /x\.js:2:/);
    assert.doesNotMatch(deploy.err, /x\.ts/);
    mkdirSync(join(dir, "workflows"), { recursive: true });
    writeFileSync(join(dir, "workflows", "y.js"), "async function workflow(input) {\n  return (;\n}\n");
    const line = await eventually(async () => /Could not deploy y\.js: .*/.exec(dev.output())?.[0]);
    assert.match(line, /y\.js:2:/);
    assert.doesNotMatch(line, /y\.ts/);
  });

  it("--timeout takes a duration like 10m, and --input-file errors name the file", async () => {
    const g = ["--server", dev.url, "--data", data];
    const before = Date.now();
    const r = await kiln([...g, "start", "hello", "-i", "{}", "--timeout", "10m", "--json"]);
    assert.equal(r.code, 0, r.err);
    const run = r.json() as Run;
    assert.ok(
      run.deadlineAt !== null && run.deadlineAt - before >= 9 * 60_000 && run.deadlineAt - before <= 11 * 60_000,
    );
    const missing = join(dir, "no-such-input.json");
    const bad = await kiln([...g, "start", "hello", "--input-file", missing]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, new RegExp(`INVALID_INPUT: .*${missing.replace(/[.]/g, "\\.")}.*ENOENT`));
  });

  it("a completed task's progress shows 100%, though its script last reported 50%", async () => {
    const g = ["--server", dev.url, "--data", data];
    const r = await kiln([...g, "run", "hello", "-i", '{"name":"Pat"}', "--wait"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /status\s+completed/);
    assert.match(r.out, /progress\s+100%/);
  });

  it("Ctrl-C during --wait says the run continues and how to cancel it", async () => {
    writeFileSync(
      join(dir, "workflows", "slow.js"),
      "async function workflow(input, { sleep }) {\n  await sleep('long', 600000);\n  return 1;\n}\n",
    );
    await eventually(async () => (/Deployed slow version 1/.test(dev.output()) ? true : undefined));
    const child = spawn(process.execPath, [KILN_BIN, "--server", dev.url, "--data", data, "start", "slow", "--wait"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c) => {
      err += c;
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    await eventually(async () => (/running|queued/.test(err) ? true : undefined), 60_000);
    child.kill("SIGINT");
    assert.equal(await exited, 130);
    const id = /run (\S+) continues on the server/.exec(err)?.[1];
    assert.ok(id, err);
    assert.match(err, new RegExp(`kiln cancel ${id}`));
    const status = (await kiln(["--server", dev.url, "--data", data, "status", id, "--json"])).json() as Run;
    assert.ok(["running", "sleeping", "queued"].includes(status.status), status.status);
    assert.equal((await kiln(["--server", dev.url, "--data", data, "cancel", id])).code, 0);
  });

  it("a missing secret fails the run at once: SECRET_NOT_FOUND is not retried", async () => {
    const g = ["--server", dev.url, "--data", data];
    const id = (await kiln([...g, "run", "needs-missing-secret"])).out.trim();
    const run = await eventually(async () => {
      const r = (await kiln([...g, "status", id, "--json"])).json() as Run;
      return r.status === "failed" || r.status === "completed" ? r : undefined;
    }, 60_000);
    assert.equal(run.status, "failed");
    assert.equal(run.error?.code, "SECRET_NOT_FOUND");
    assert.equal(run.attempt, 1);
  });
});
