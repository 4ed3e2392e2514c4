import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fixture, memoryRunStore, psGroup, runInTest } from "../../tests/support/exec-helpers.ts";

const temp = mkdtempSync(join(tmpdir(), "kiln-steps-"));
after(() => rmSync(temp, { recursive: true, force: true }));
let n = 0;

function setup(nap = "0") {
  const dir = join(temp, `case-${++n}`);
  const runsFile = `${dir}-runs`;
  const failFile = `${dir}-fail-two`;
  writeFileSync(runsFile, "");
  const raw = {
    command: fixture("steps.sh"),
    exit_codes: { retry: [3] },
    env: { RUNS_FILE: runsFile, FAIL_TWO_FILE: failFile, NAP: nap },
  };
  const runs = () => readFileSync(runsFile, "utf8").split("\n").filter(Boolean);
  return { raw, runs, failFile, store: memoryRunStore() };
}

describe("durable steps inside a set -e Bash script", () => {
  test("a step retried after a failure: earlier steps are replayed, not re-run", async () => {
    const { raw, runs, failFile, store } = setup();
    writeFileSync(failFile, "");
    const first = await runInTest(raw, { store, attempt: 1 });
    assert.equal(first.result.verdict, "retry");
    assert.equal(first.result.exitCode, 3);
    assert.match(first.result.stderrTail, /two failed/);
    assert.deepEqual(runs(), ["one", "two"]);
    assert.deepEqual(store.completed, ["one"]);

    rmSync(failFile);
    const second = await runInTest(raw, { store, attempt: 2 });
    assert.equal(second.result.verdict, "success", second.result.error?.message);
    assert.deepEqual(runs(), ["one", "two", "two", "three"]);
    assert.deepEqual(store.completed, ["one", "two", "three"]);
    assert.equal((second.result.output as Record<string, unknown>).one, "result-one");
    assert.match(String((second.result.output as { stdout: string }).stdout), /one said: result-one/);
  });

  test("kiln sleep parks the run: the process group is stopped at once; on wake the script re-runs from the top", async () => {
    const { raw, runs, store } = setup("1h");
    const parked = await runInTest(raw, { store });
    assert.equal(parked.result.verdict, "parked");
    assert.equal(parked.result.error, null);
    assert.deepEqual(runs(), ["one", "two"], "nothing after the sleep ran");
    assert.deepEqual(psGroup(parked.result.pid ?? -1), []);
    const nap = store.steps.get("nap");
    assert.equal(nap?.status, "waiting");

    // The timer fires: the worker re-runs the script; the sleep is over now.
    store.steps.set("nap", { ...(nap as NonNullable<typeof nap>), status: "completed", wakeAt: Date.now() - 1 });
    const woken = await runInTest(raw, { store, attempt: 1 });
    assert.equal(woken.result.verdict, "success", woken.result.error?.message);
    assert.deepEqual(runs(), ["one", "two", "three"]);
  });

  test("kiln wait-event parks until the event, then receives its payload", async () => {
    const store = memoryRunStore();
    const raw = {
      command: "bash",
      args: ["-c", `set -e; node ${fixture("api-client.mjs")} wait-event approval approved; echo after`],
    };
    const parked = await runInTest(raw, { store });
    assert.equal(parked.result.verdict, "parked");
    assert.ok(!parked.result.stdoutTail.includes("after"));
    store.steps.delete("approval");
    store.events.set("approved", { by: "ada" });
    const received = await runInTest(raw, { store });
    assert.equal(received.result.verdict, "success");
    assert.deepEqual((received.result.output as { stdout: string }).stdout.split("\n"), [
      '{"status":"received","payload":{"by":"ada"}}',
      "after",
    ]);
  });

  test("repeated step names in a loop get deterministic suffixes", async () => {
    const store = memoryRunStore();
    const raw = {
      command: "bash",
      args: ["-c", `for i in 1 2 3; do node ${fixture("api-client.mjs")} step fetch -- echo "item $i"; done`],
    };
    const first = await runInTest(raw, { store });
    assert.equal(first.result.verdict, "success");
    assert.deepEqual(store.completed, ["fetch", "fetch#2", "fetch#3"]);
    const again = await runInTest(raw, { store, attempt: 2 });
    assert.deepEqual((again.result.output as { stdout: string }).stdout, "item 1\nitem 2\nitem 3");
    assert.deepEqual(store.completed, ["fetch", "fetch#2", "fetch#3"], "all replayed");
  });

  test("state, output, log and progress through the local API", async () => {
    const store = memoryRunStore();
    store.state.set("before", "1");
    const client = fixture("api-client.mjs");
    const { result, ctx } = await runInTest(
      {
        command: "bash",
        args: [
          "-c",
          `set -e; v=$(node ${client} state get before); node ${client} state set after "$v-2"; ` +
            `node ${client} output set answer 42; node ${client} log notice hello; node ${client} progress 75 nearly; node ${client} heartbeat`,
        ],
      },
      { store },
    );
    assert.equal(result.verdict, "success", result.error?.message);
    assert.equal(store.state.get("after"), "1-2");
    assert.equal((result.output as Record<string, unknown>).answer, "42");
    assert.ok(ctx.logs.some((l) => l.level === "notice" && l.message === "hello"));
    assert.deepEqual(ctx.progressReports, [{ percent: 75, message: "nearly" }]);
    assert.equal(ctx.heartbeats, 1);
  });
});
