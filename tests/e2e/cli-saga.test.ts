/**
 * The saga through the CLI against a real `kiln dev`: a JS workflow with a compensable step,
 * then a wait for an event. `kiln cancel` and a run timeout both compensate it (the run ends
 * `compensated`, its step marked, its wait closed), and `kiln retry` books again.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Run } from "../../src/engine/run.ts";
import type { Step } from "../../src/engine/step.ts";
import { eventually, type KilnProcess, kiln, startKiln } from "./cli-support.ts";

const BOOKING = `export default async function booking(input: { log: string; key: string }, ctx: any) {
  const fs = require("node:fs");
  const room = await ctx.step("reserve", () => {
    fs.appendFileSync(input.log, "reserve\\n");
    return "R-1";
  }, { compensate: (r: string) => fs.appendFileSync(input.log, "release " + r + "\\n") });
  const answer = await ctx.waitForEvent("confirm", { event: "booking.confirmed", key: input.key });
  return { room, answer };
}
`;

type RunView = Run & { steps: Step[] };

describe("saga through the CLI against kiln dev", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-cli-saga-"));
    const init = await kiln(["init", dir]);
    assert.equal(init.code, 0, init.err);
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
    writeFileSync(join(dir, "booking.ts"), BOOKING);
    const deployed = await kiln([...g, "deploy", "booking", "-f", join(dir, "booking.ts")]);
    assert.equal(deployed.code, 0, deployed.err);
  });

  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const status = async (id: string) => (await kiln([...g, "status", id, "--json"])).json() as RunView;
  const until = (id: string, wanted: string) =>
    eventually(async () => {
      const run = await status(id);
      return run.status === wanted ? run : undefined;
    });
  const lines = (log: string) => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);
  const start = async (key: string, extra: string[] = []) => {
    const log = join(dir, `${key}.log`);
    const started = await kiln([...g, "start", "booking", "-i", JSON.stringify({ log, key }), ...extra]);
    assert.equal(started.code, 0, started.err);
    return { id: started.out.trim(), log };
  };

  it("kiln cancel compensates: the run ends compensated, the step compensated, the wait cancelled", async () => {
    const { id, log } = await start("cancel-me");
    await until(id, "waiting");
    const cancelled = await kiln([...g, "cancel", id]);
    assert.equal(cancelled.code, 0, cancelled.err);
    assert.equal(cancelled.out.trim(), `${id} cancelling`);
    const run = await until(id, "compensated");
    assert.equal(run.error?.code, "RUN_CANCELLED");
    assert.deepEqual(
      run.steps.map((s) => [s.name, s.status]),
      [
        ["reserve", "compensated"],
        ["confirm", "cancelled"],
        ["compensate:reserve", "completed"],
      ],
    );
    assert.deepEqual(lines(log), ["reserve", "release R-1"]);
    const text = await kiln([...g, "status", id]);
    assert.match(text.out, /status\s+compensated/);
    assert.match(text.out, /reserve\s+step\s+compensated/);
    assert.match(text.out, /confirm\s+event\s+cancelled/);
    // The closed wait takes no event: it stays buffered.
    const sent = await kiln([...g, "events", "send", "booking.confirmed", "--key", "cancel-me", "-d", '"yes"']);
    assert.equal(sent.code, 0, sent.err);
    assert.doesNotMatch(sent.out, new RegExp(`delivered to run ${id}`));

    // A retry books again (the saga undid the booking), and its wait takes the buffered event.
    const retried = await kiln([...g, "retry", id]);
    assert.equal(retried.code, 0, retried.err);
    const done = await until(id, "completed");
    assert.deepEqual(done.output, { room: "R-1", answer: "yes" });
    assert.deepEqual(
      done.steps.map((s) => [s.name, s.status]),
      [
        ["reserve", "completed"],
        ["confirm", "completed"],
      ],
    );
    assert.deepEqual(lines(log), ["reserve", "release R-1", "reserve"], "the undone step ran again");
  });

  it("a run timeout compensates too: compensated, with the error saying it timed out", async () => {
    // The deadline leaves the worker ample time to reserve before it passes.
    const { id, log } = await start("too-slow", ["--timeout", "4"]);
    const run = await until(id, "compensated");
    assert.equal(run.error?.code, "RUN_TIMEOUT");
    assert.deepEqual(
      run.steps.map((s) => [s.name, s.status]),
      [
        ["reserve", "compensated"],
        ["confirm", "cancelled"],
        ["compensate:reserve", "completed"],
      ],
    );
    assert.deepEqual(lines(log), ["reserve", "release R-1"]);
    const text = await kiln([...g, "status", id]);
    assert.match(text.out, /error\s+RUN_TIMEOUT: /);
  });
});
