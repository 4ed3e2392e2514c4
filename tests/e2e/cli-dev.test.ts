/**
 * The CLI as a new user drives it, against `kiln dev` on SQLite: init, deploy, start, run,
 * status, list, logs, events, cancel, retry, secrets, tokens, validate.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import { eventually, KILN_BIN, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

describe("CLI against kiln dev (SQLite)", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-cli-dev-"));
    const init = await kiln(["init", dir]);
    assert.equal(init.code, 0, init.err);
    // Extra task kinds: one that fails, one that prints a secret it gets from the vault.
    writeFileSync(
      join(dir, "kiln.yaml"),
      `${readFileSync(join(dir, "kiln.yaml"), "utf8")}
  - kind: always-fails
    command: bash
    args: ["-c", "echo 'about to fail' >&2; exit 1"]
  - kind: uses-secret
    command: bash
    args: ["-c", "echo \\"token is $API_TOKEN\\""]
    env: { API_TOKEN: "\${secret:API_TOKEN}" }
`,
    );
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists the deployed example workflow and the configured task kinds", async () => {
    const workflows = await kiln([...g, "list", "workflows", "--json"]);
    assert.equal(workflows.code, 0, workflows.err);
    const names = (workflows.json() as { items: { name: string }[] }).items.map((w) => w.name);
    assert.deepEqual(names, ["hello"]);
    const tasks = await kiln([...g, "list", "tasks"]);
    assert.match(tasks.out, /hello/);
    assert.match(tasks.out, /always-fails/);
  });

  it("starts a workflow and waits: step, durable sleep, child script task", async () => {
    const r = await kiln([...g, "start", "hello", "-i", '{"name":"Ada"}', "--wait", "--json"]);
    assert.equal(r.code, 0, r.err);
    const run = r.json() as Run & { steps: { name: string }[] };
    assert.equal(run.status, "completed");
    assert.deepEqual((run.output as { message: string }).message, "Hello, Ada!");
    assert.deepEqual(
      run.steps.map((s) => s.name),
      ["greet", "wait", "task:hello", "complete"],
    );
  });

  it("runs a task kind, shows its status, state and logs", async () => {
    const started = await kiln([...g, "run", "hello", "-i", '{"name":"Bob"}']);
    assert.equal(started.code, 0, started.err);
    const id = started.out.trim();
    const run = await eventually(async () => {
      const s = (await kiln([...g, "status", id, "--json"])).json() as Run;
      return s.status === "completed" ? s : undefined;
    });
    assert.deepEqual(run.output, { greeting: "Hello, Bob!", attempt: "1" }, "outputs from the $KILN_OUTPUT file");
    assert.deepEqual(run.state, { greeted: "Bob" });
    const status = await kiln([...g, "status", id]);
    assert.match(status.out, /status\s+completed/);
    const logs = await kiln([...g, "logs", id]);
    assert.equal(logs.code, 0);
    const runs = await kiln([...g, "list", "runs", "--task", "hello"]);
    assert.match(runs.out, new RegExp(id));
  });

  it("deploys a workflow from a file and resumes it with an event", async () => {
    writeFileSync(
      join(dir, "approval.ts"),
      `export default async function approval(input: { order: string }, ctx: any) {
  const decision = await ctx.waitForEvent("decision", { event: "order.decided", key: input.order });
  return { order: input.order, decision };
}
`,
    );
    const deployed = await kiln([...g, "deploy", "approval", "-f", join(dir, "approval.ts"), "--json"]);
    assert.equal(deployed.code, 0, deployed.err);
    assert.equal((deployed.json() as { version: string }).version, "1");
    const again = await kiln([...g, "deploy", "approval", "-f", join(dir, "approval.ts"), "--json"]);
    assert.equal((again.json() as { created: boolean }).created, false, "identical source is a no-op");
    const id = (await kiln([...g, "start", "approval", "-i", '{"order":"o-7"}'])).out.trim();
    await eventually(async () => {
      const s = (await kiln([...g, "status", id, "--json"])).json() as Run;
      return s.status === "waiting" ? s : undefined;
    });
    const sent = await kiln([...g, "events", "send", "order.decided", "--key", "o-7", "-d", '{"ok":true}']);
    assert.match(sent.out, new RegExp(`delivered to run ${id}`));
    const done = await eventually(async () => {
      const s = (await kiln([...g, "status", id, "--json"])).json() as Run;
      return s.status === "completed" ? s : undefined;
    });
    assert.deepEqual(done.output, { order: "o-7", decision: { ok: true } });
    // Events are kept and listed: the delivered one with its run, a buffered one as such.
    await kiln([...g, "events", "send", "nobody.waits", "--key", "k-1"]);
    const listed = await kiln([...g, "events", "list"]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /nobody\.waits\s+k-1\s+\S+ \S+\s+buffered/);
    assert.match(listed.out, new RegExp(`order\\.decided\\s+o-7\\s+\\S+ \\S+\\s+${id}`));
    const buffered = (await kiln([...g, "events", "list", "--buffered", "--json"])).json() as {
      items: { name: string }[];
    };
    assert.deepEqual(
      buffered.items.map((e) => e.name),
      ["nobody.waits"],
    );
  });

  it("fails a step whose result is over the payload cap with PAYLOAD_TOO_LARGE (JS workflow, flow)", async () => {
    writeFileSync(
      join(dir, "huge.js"),
      `async function workflow(input, { step }) { return (await step("huge", () => "x".repeat(2 * 1024 * 1024))).length; }\n`,
    );
    writeFileSync(
      join(dir, "huge-flow.yaml"),
      `steps:\n  - id: huge\n    type: transform\n    params: { script: "return 'x'.repeat(2 * 1024 * 1024)" }\n`,
    );
    for (const [name, file] of [
      ["huge-js", "huge.js"],
      ["huge-flow", "huge-flow.yaml"],
    ] as const) {
      const deployed = await kiln([...g, "deploy", name, "-f", join(dir, file)]);
      assert.equal(deployed.code, 0, deployed.err);
      const r = await kiln([...g, "start", name, "--wait", "--json"]);
      const run = r.json() as Run;
      assert.equal(run.status, "failed", `${name}: ${r.out}${r.err}`);
      assert.equal(run.error?.code, "PAYLOAD_TOO_LARGE", name);
    }
  });

  it("refuses to start what nothing can run, unless --allow-unknown; --wait says why a run stays queued", async () => {
    const typo = await kiln([...g, "run", "helo"]);
    assert.notEqual(typo.code, 0);
    assert.match(typo.err, /TASK_KIND_NOT_FOUND/);
    assert.match(typo.err, /did you mean "hello"/);
    const missing = await kiln([...g, "start", "nosuch"]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /WORKFLOW_NOT_FOUND.*"nosuch"/);
    const queued = await kiln([...g, "run", "ghost", "--allow-unknown", "--json"]);
    assert.equal(queued.code, 0, queued.err);
    assert.equal((queued.json() as Run).status, "queued");
    // --wait keeps waiting, and after a few seconds says that no worker declares the kind.
    const child = spawn(process.execPath, [KILN_BIN, ...g, "run", "ghost", "--allow-unknown", "--wait"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c) => {
      err += c;
    });
    try {
      await eventually(async () => (/still queued: no live worker/.test(err) ? true : undefined), 30_000);
      assert.equal(child.exitCode, null, "still waiting after the notice");
      assert.match(err, /declares task kind "ghost"/);
    } finally {
      child.kill();
    }
  });

  it("takes --version V on deploy and start (not the global -V/--version)", async () => {
    const version = await kiln(["--version"]);
    assert.equal(version.out.trim(), "0.1.0");
    writeFileSync(join(dir, "versioned.js"), "async function workflow(input) { return { v: 7 }; }\n");
    const deployed = await kiln([
      ...g,
      "deploy",
      "versioned",
      "-f",
      join(dir, "versioned.js"),
      "--version",
      "7",
      "--json",
    ]);
    assert.equal(deployed.code, 0, deployed.err);
    assert.equal((deployed.json() as { version: string }).version, "7");
    const r = await kiln([...g, "start", "versioned", "--version", "7", "--wait", "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.equal((r.json() as Run).version, "7");
    assert.deepEqual((r.json() as Run).output, { v: 7 });
  });

  it("refuses a deploy that cannot run: TypeScript that does not compile, an invalid flow", async () => {
    writeFileSync(
      join(dir, "broken.ts"),
      "export default async function (input: { a: number }, ctx) { return input.a +; }\n",
    );
    const ts = await kiln([...g, "deploy", "broken", "-f", join(dir, "broken.ts")]);
    assert.equal(ts.code, 1);
    assert.match(ts.err, /error INVALID_INPUT: Workflow broken does not compile/);
    writeFileSync(
      join(dir, "broken.yaml"),
      "nodes:\n  a:\n    type: transform\n    params: { script: 'return 1' }\n    next: nowhere\n",
    );
    const flow = await kiln([...g, "deploy", "broken-flow", "-f", join(dir, "broken.yaml")]);
    assert.equal(flow.code, 1);
    // Reported at the file deployed (checked locally, as kiln validate does), not at <name>.yaml.
    assert.match(flow.err, /broken\.yaml:5:\d+: .*nowhere/);
    const listed = (await kiln([...g, "list", "workflows", "--json"])).json() as { items: { name: string }[] };
    assert.ok(!listed.items.some((w) => w.name.startsWith("broken")), "nothing half-deployed");
  });

  it("cancels a sleeping run and retries a failed one as a new attempt", async () => {
    writeFileSync(join(dir, "napper.js"), 'async function workflow(i, { sleep }) { await sleep("nap", "1h"); }\n');
    assert.equal((await kiln([...g, "deploy", "napper", "-f", join(dir, "napper.js")])).code, 0);
    const id = (await kiln([...g, "start", "napper"])).out.trim();
    await eventually(async () => {
      const s = (await kiln([...g, "status", id, "--json"])).json() as Run;
      return s.status === "sleeping" ? s : undefined;
    });
    const cancelled = await kiln([...g, "cancel", id, "--json"]);
    assert.equal(cancelled.code, 0, cancelled.err);
    assert.equal((cancelled.json() as Run).status, "cancelled");
    const again = await kiln([...g, "cancel", id]);
    assert.equal(again.code, 1);
    assert.match(again.err, /error INVALID_STATE_TRANSITION/);

    const failed = (await kiln([...g, "run", "always-fails", "--wait", "--json"])).json() as Run;
    assert.equal(failed.status, "failed");
    assert.equal((failed.error?.data as { exitCode?: number } | undefined)?.exitCode, 1);
    const retried = await kiln([...g, "retry", failed.id, "--json"]);
    assert.equal(retried.code, 0, retried.err);
    assert.equal((retried.json() as Run).attempt, 2);
  });

  it("keeps secrets encrypted, resolves them for the run that needs them and masks them", async () => {
    const set = await kiln([...g, "secrets", "set", "API_TOKEN", "hunter2-very-secret"]);
    assert.equal(set.code, 0, set.err);
    const list = await kiln([...g, "secrets", "list"]);
    assert.match(list.out, /API_TOKEN/);
    assert.doesNotMatch(list.out, /hunter2/);
    const run = (await kiln([...g, "run", "uses-secret", "--wait", "--json"])).json() as Run;
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.equal((run.output as { stdout: string }).stdout, "token is ***");
    const logs = await kiln([...g, "logs", run.id]);
    assert.doesNotMatch(logs.out, /hunter2/);
    assert.equal((await kiln([...g, "secrets", "rm", "API_TOKEN"])).code, 0);
    assert.doesNotMatch((await kiln([...g, "secrets", "list"])).out, /API_TOKEN/);
  });

  it("creates, uses and revokes tokens with roles", async () => {
    const created = await kiln([...g, "tokens", "create", "--name", "ci-viewer", "--role", "viewer", "--json"]);
    assert.equal(created.code, 0, created.err);
    const { token, id } = created.json() as { token: string; id: string };
    assert.match(token, /^kiln_/);
    const asViewer = ["--server", dev.url, "--token", token];
    assert.equal((await kiln([...asViewer, "list", "runs"])).code, 0);
    const denied = await kiln([...asViewer, "run", "hello"]);
    assert.equal(denied.code, 1);
    assert.match(denied.err, /error FORBIDDEN/);
    assert.match((await kiln([...g, "tokens", "list"])).out, /ci-viewer/);
    assert.equal((await kiln([...g, "tokens", "revoke", id])).code, 0);
    const revoked = await kiln([...asViewer, "list", "runs"]);
    assert.equal(revoked.code, 1);
    assert.match(revoked.err, /error UNAUTHENTICATED/);
  });

  it("validates config and reports every error with file:line", async () => {
    assert.equal((await kiln(["validate", join(dir, "kiln.yaml")])).code, 0);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "tasks:\n  - kind: x\n    command: ''\n    timeout_seconds: abc\n");
    const r = await kiln(["validate", bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad\.yaml:3:\d+: tasks\[0\]\.command/);
    assert.match(r.err, /bad\.yaml:4:\d+: tasks\[0\]\.timeout_seconds/);
  });

  it("prints the OpenAPI document and a clear error for an unknown run", async () => {
    const doc = (await kiln([...g, "openapi"])).json() as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\.1/);
    assert.ok(doc.paths["/v1/runs"]);
    const missing = await kiln([...g, "status", "01a200d9-0000-7000-8000-000000000000"]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /error RUN_NOT_FOUND/);
  });
});
