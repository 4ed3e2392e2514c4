import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../tests/support/test-db.ts";
import type { Store } from "../store/store.ts";
import type { LiveEvent } from "./live-events.ts";
import { LiveHub } from "./live-hub.ts";

/** The store, counting the reads live feeds make. */
function counting(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const counted = new Set(["getRun", "listRuns", "listSteps", "listLogs"]);
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof key === "string" && counted.has(key) && typeof value === "function") {
        return (...args: unknown[]) => {
          reads++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: proxy, reads: () => reads };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), "condition met in time");
};

describe("LiveHub shares one feed among all subscribers (issue 20.8)", () => {
  let db: TestStore;
  before(async () => {
    db = await openTestSqlite();
  });
  after(async () => {
    await db?.close();
  });

  it("polls once per namespace and per run however many streams watch, and pushes to all", async () => {
    const { store, reads } = counting(db.store);
    const hub = new LiveHub(store, { pollMs: 20 });
    const { run } = await db.store.startRun({ namespace: "default", type: "task", name: "t", queue: "q" });
    const nsEvents: LiveEvent[][] = [];
    const runEvents: LiveEvent[][] = [];
    const subs = [];
    for (let i = 0; i < 100; i++) {
      const mine: LiveEvent[] = [];
      nsEvents.push(mine);
      subs.push(hub.followNamespace({ namespace: "default" }, (e) => mine.push(e)));
      const theirs: LiveEvent[] = [];
      runEvents.push(theirs);
      subs.push(hub.followRun({ namespace: "default", runId: run.id }, (e) => theirs.push(e)));
    }
    await until(() => runEvents.every((e) => e.length > 0));
    assert.equal(hub.pollLoops, 2, "one loop for the namespace, one for the run");

    // Idle: the reads of a window do not grow with the number of subscribers.
    const start = reads();
    await new Promise((r) => setTimeout(r, 200));
    const idleReads = reads() - start;
    // 200 ms at 20 ms: about 10 polls of each feed (2 namespace reads + 3 run reads each).
    assert.ok(idleReads < 120, `${idleReads} reads in 200 ms for 200 idle subscribers`);

    // A change reaches every subscriber once.
    await db.store.appendLogs({ entries: [{ runId: run.id, attempt: 1, level: "info", message: "hello" }] });
    hub.poke([run.id]);
    await until(() => runEvents.every((e) => e.some((x) => x.type === "log")));
    for (const events of runEvents) assert.equal(events.filter((e) => e.type === "log").length, 1);
    const { runs } = await db.store.claimRuns({
      namespace: "default",
      queues: ["q"],
      owner: "w",
      limit: 1,
      leaseMs: 60_000,
    });
    assert.equal(runs.length, 1);
    hub.poke([run.id], "default");
    await until(() => nsEvents.every((e) => e.some((x) => x.type === "run" && x.status === "running")));

    // A late subscriber gets the state so far, then the shared feed.
    const late: LiveEvent[] = [];
    const lateSub = hub.followRun({ namespace: "default", runId: run.id }, (e) => late.push(e));
    await until(() => late.some((e) => e.type === "log"));
    assert.equal(hub.pollLoops, 2);

    // The run ends: every run feed ends with it; the namespace loop stops with its last subscriber.
    await db.store.finishRuns({
      items: [{ runId: run.id, leaseToken: runs[0]?.run.leaseToken ?? -1, outcome: "complete", output: 1 }],
    });
    hub.poke([run.id]);
    await Promise.all([...subs.filter((_, i) => i % 2 === 1).map((s) => s.done), lateSub.done]);
    for (const events of [...runEvents, late]) {
      const last = events.at(-1);
      assert.equal(last?.type === "run" ? last.status : last?.type, "completed");
    }
    for (const s of subs) s.stop();
    await until(() => hub.pollLoops === 0);
    hub.close();
  });
});
