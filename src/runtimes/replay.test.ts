import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../tests/support/test-db.ts";
import { assertDeployCompatible, checkDeploy } from "../cli/commands/replay.ts";
import { createContext } from "../cli/context.ts";
import { runCli } from "../cli/main.ts";
import type { Output } from "../cli/output.ts";
import { hasCode } from "../errors.ts";
import { HostPool } from "./host-pool.ts";
import { type HostHarness, hostHarness, makeWorkflowDirectory } from "../../tests/support/host-harness.ts";
import { checkCompatibility, describeIncompatibility, replayHistory } from "./replay.ts";

const V1 = `async function workflow(input, { step, sleep }) {
  const a = await step("charge", () => input.amount);
  await sleep("settle", "1h");
  return await step("receipt", () => ({ charged: a }));
}
`;
const V2_RENAMED = V1.replace('"charge"', '"authorize"');
const V2_APPENDED = V1.replace(
  'return await step("receipt"',
  'await step("audit", () => 1);\n  return await step("receipt"',
);
const V2_SHORTER = `async function workflow(input, { step }) { return await step("charge", () => input.amount); }`;

const PY_V1 = `def workflow(input, ctx):
    a = ctx.step("charge", lambda: input["amount"])
    ctx.sleep("settle", "1h")
    return ctx.step("receipt", lambda: {"charged": a})
`;

describe("replayHistory and the deploy check", () => {
  const clock = { now: 1_000_000 };
  let db: TestStore;
  let pool: HostPool;
  let h: HostHarness;
  let py: HostHarness;
  let inFlight: string;
  let done: string;
  let pyInFlight: string;

  const history = async (id: string) => ({ run: await h.run(id), steps: await h.steps(id) });

  before(async () => {
    db = await openTestSqlite({ clock: () => clock.now });
    pool = new HostPool({ size: 2, directory: makeWorkflowDirectory() });
    h = hostHarness(db, clock, "replay", pool);
    py = hostHarness(db, clock, "replay", pool);
    await h.deploy("pay", V1);
    await py.deploy("pay-py", PY_V1, "python");
    done = await h.start("pay", { amount: 5 });
    await h.drain();
    clock.now += 3_600_000;
    await h.drain();
    inFlight = await h.start("pay", { amount: 7 }, { version: "1" });
    pyInFlight = await py.start("pay-py", { amount: 9 });
    await h.drain();
    await py.drain();
  });
  after(async () => {
    await pool?.close();
    await db?.close();
  });

  it("finds no divergence for the same code, in flight or completed", async () => {
    const sleeping = await replayHistory({
      source: V1,
      runtime: "node",
      pool,
      ...(await history(inFlight)),
      now: clock.now,
    });
    assert.equal(sleeping.ok, true, JSON.stringify(sleeping));
    assert.equal(sleeping.result, "consistent");
    assert.equal(sleeping.replayed, 2);
    const completed = await replayHistory({ source: V1, runtime: "node", pool, ...(await history(done)) });
    assert.equal(completed.result, "completed");
    assert.deepEqual(completed.output, { charged: 5 });
    const appended = await replayHistory({ source: V2_APPENDED, runtime: "node", pool, ...(await history(inFlight)) });
    assert.equal(appended.ok, true, "steps added after the recorded history are compatible");
  });

  it("reports the first divergence, naming the recorded and the new step", async () => {
    const report = await replayHistory({ source: V2_RENAMED, runtime: "node", pool, ...(await history(inFlight)) });
    assert.equal(report.ok, false);
    assert.equal(report.result, "diverged");
    assert.equal(report.divergence?.position, 0);
    assert.deepEqual(report.divergence?.expected, { name: "charge", type: "step" });
    assert.deepEqual(report.divergence?.actual, { name: "authorize" });
    assert.match(report.divergence?.message ?? "", /"charge".*"authorize"/);
  });

  it("reports history the new code no longer reaches", async () => {
    const report = await replayHistory({ source: V2_SHORTER, runtime: "node", pool, ...(await history(done)) });
    assert.equal(report.ok, false);
    assert.equal(report.divergence?.position, 1);
    assert.deepEqual(report.divergence?.expected, { name: "settle", type: "sleep" });
  });

  it("executes nothing new and writes nothing", async () => {
    const before = await h.steps(inFlight);
    const marker = join(pool.directory, "replay-side-effect");
    const sneaky = V1.replace(
      'await step("receipt", () =>',
      `await step("receipt", () => require("node:fs").writeFileSync(${JSON.stringify(marker)}, "x") ||`,
    );
    const report = await replayHistory({
      source: sneaky,
      runtime: "node",
      pool,
      ...(await history(done)),
      now: clock.now,
    });
    assert.equal(report.ok, true);
    // The sleep of the run in flight is over by then: the code reaches the unrecorded "receipt".
    const later = clock.now + 10 * 3_600_000;
    const reached = await replayHistory({
      source: sneaky,
      runtime: "node",
      pool,
      ...(await history(inFlight)),
      now: later,
    });
    assert.equal(reached.result, "consistent");
    assert.equal(reached.replayed, 3);
    assert.deepEqual(await h.steps(inFlight), before);
    const { existsSync } = await import("node:fs");
    assert.equal(existsSync(marker), false, "a recorded step's function is not called");
  });

  it("replays Python histories", async () => {
    const { run } = { run: await py.run(pyInFlight) };
    const steps = await py.steps(pyInFlight);
    const same = await replayHistory({ source: PY_V1, runtime: "python", pool, run, steps });
    assert.equal(same.ok, true, JSON.stringify(same));
    const changed = await replayHistory({
      source: PY_V1.replace('"charge"', '"authorize"'),
      runtime: "python",
      pool,
      run,
      steps,
    });
    assert.equal(changed.result, "diverged");
    assert.deepEqual(changed.divergence?.expected, { name: "charge", type: "step" });
  });

  it("checkCompatibility names the runs whose history diverges", async () => {
    const report = await checkCompatibility({
      source: V2_RENAMED,
      runtime: "node",
      pool,
      histories: [await history(inFlight), await history(done)],
    });
    assert.equal(report.ok, false);
    assert.equal(report.incompatible.length, 2);
    const error = describeIncompatibility("pay", report);
    assert.equal(error.code, "NON_DETERMINISTIC");
    assert.match(error.message, new RegExp(`run ${inFlight}: .*"charge".*"authorize"`));
  });

  describe("through the CLI and the API", () => {
    let server: Server;
    let serverUrl: string;
    const lines: string[] = [];
    const output: Output = { out: (t) => lines.push(t), err: (t) => lines.push(t), isTTY: false };

    before(async () => {
      server = createServer((req, res) => {
        void (async () => {
          const url = new URL(req.url ?? "/", "http://x");
          const send = (status: number, body: unknown) => {
            res.writeHead(status, { "content-type": "application/json" });
            res.end(JSON.stringify(body));
          };
          const runMatch = /^\/v1\/runs\/([^/]+)$/.exec(url.pathname);
          if (runMatch) {
            const run = await db.store.getRun({ namespace: "replay", id: decodeURIComponent(runMatch[1] as string) });
            if (!run) return send(404, { error: { code: "RUN_NOT_FOUND", message: "no run" } });
            return send(200, { ...run, steps: await db.store.listSteps({ runId: run.id }) });
          }
          if (url.pathname === "/v1/runs") {
            const status = url.searchParams.get("status")?.split(",") as never;
            const page = await db.store.listRuns({
              namespace: "replay",
              name: url.searchParams.get("name") ?? "",
              status,
            });
            return send(200, { items: page.runs, nextCursor: null });
          }
          const wf = /^\/v1\/workflows\/([^/]+)(?:\/versions\/([^/]+))?$/.exec(url.pathname);
          if (wf) {
            const name = wf[1] as string;
            const found = await h.source.getWorkflow({
              namespace: "replay",
              name,
              ...(wf[2] ? { version: wf[2] } : {}),
            });
            return found ? send(200, found) : send(404, { error: { code: "WORKFLOW_NOT_FOUND", message: "none" } });
          }
          send(404, { error: { code: "ROUTE_NOT_FOUND", message: url.pathname } });
        })();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => {
      server?.close();
    });

    it("kiln replay <run-id> replays against the deployed code, and -f against new code", async () => {
      lines.length = 0;
      const same = await runCli(["replay", inFlight, "--server", serverUrl], output);
      assert.equal(same, 0, lines.join("\n"));
      assert.match(lines.join("\n"), /matches its history/);
      const file = join(pool.directory, "pay-v2.js");
      writeFileSync(file, V2_RENAMED);
      lines.length = 0;
      const changed = await runCli(["replay", inFlight, "-f", file, "--server", serverUrl], output);
      assert.equal(changed, 1);
      assert.match(
        lines.join("\n"),
        /position 0 was recorded as step "charge", but the code now calls step "authorize"/,
      );
    });

    it("the deploy check refuses code that diverges from runs in flight, naming them", async () => {
      const ctx = createContext({ server: serverUrl } as never, output, {});
      const ok = await checkDeploy(ctx, { name: "pay", source: V2_APPENDED, runtime: "node" });
      assert.equal(ok.ok, true);
      assert.equal(ok.reports.length, 1, "only the run in flight is checked");
      await assert.rejects(
        assertDeployCompatible(ctx, { name: "pay", source: V2_RENAMED, runtime: "node" }),
        (error: unknown) =>
          hasCode(error, "NON_DETERMINISTIC") &&
          (error as Error).message.includes(inFlight) &&
          (error as Error).message.includes('"authorize"'),
      );
    });
  });
});
