import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { openTestSqlite, type TestStore } from "../../../tests/support/test-db.ts";
import { HostPool } from "../host-pool.ts";
import { hostHarness } from "../../../tests/support/host-harness.ts";
import { type ClosableComputeAdapter, cloudflareAdapter } from "./cloudflare-adapter.ts";
import { miniflareApi } from "./miniflare-api.ts";

// Side effects a Worker can show: each step that really runs POSTs here (a Worker has no files).
const STEPS_AND_SLEEP = `async function workflow(input, { step, sleep, log }) {
  const greeting = await step("greet", async () => {
    await fetch(input.hits + "greet", { method: "POST" });
    return "Hello, " + input.name + "!";
  });
  log("greeted");
  console.log("from console", { n: 1 });
  await sleep("wait", 5000);
  const [a, b] = await Promise.all([
    step("left", () => 1),
    step("right", async () => { await fetch(input.hits + "right", { method: "POST" }); return 2; }),
  ]);
  return { greeting, sum: a + b };
}
`;

const FAILING = `import { defineWorkflow } from "kiln";
export default defineWorkflow({ name: "failing" }, async (input, ctx) => {
  await ctx.step("boom", () => { throw new Error("no luck"); }, { retry: { maxAttempts: 1 } });
});
`;

const EVENTS = `async function workflow(input, { step, waitForEvent }) {
  const before = await step("before", () => "b");
  const approval = await waitForEvent("approved", { event: "order.approved", key: input.order });
  return { before, approval };
}
`;

const UNBUNDLABLE = `import { nothing } from "no-such-package-anywhere";
export default async function workflow() { return nothing; }
`;

describe("the cloudflare compute adapter on a local workerd (miniflare)", () => {
  const clock = { now: 1_000_000 };
  const hits: string[] = [];
  let db: TestStore;
  let adapter: ClosableComputeAdapter;
  let pool: HostPool;
  let server: Server;
  let hitsUrl: string;

  before(async () => {
    db = await openTestSqlite({ clock: () => clock.now });
    adapter = cloudflareAdapter({ api: miniflareApi() });
    pool = new HostPool({ size: 1, adapter });
    server = createServer((req, res) => {
      hits.push(String(req.url).slice(1));
      res.end("ok");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    hitsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(async () => {
    await pool?.close();
    await adapter?.close();
    server?.close();
    await db?.close();
  });

  it("runs steps, logs and a durable sleep on the Worker; recorded steps never run again", async () => {
    const h = hostHarness(db, clock, "cf-steps", pool);
    await h.deploy("hello", STEPS_AND_SLEEP);
    const id = await h.start("hello", { name: "Ada", hits: hitsUrl });
    await h.drain();
    const parked = await h.run(id);
    assert.equal(parked.status, "sleeping", JSON.stringify(parked.error));
    assert.deepEqual(hits, ["greet"]);
    clock.now += 5000;
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { greeting: "Hello, Ada!", sum: 3 });
    assert.deepEqual(hits, ["greet", "right"], "each step ran once, across activations and HTTP rounds");
    assert.deepEqual(
      (await h.steps(id)).map((s) => [s.name, s.status]),
      [
        ["greet", "completed"],
        ["wait", "completed"],
        ["left", "completed"],
        ["right", "completed"],
      ],
    );
    const logs = (await db.store.listLogs({ runId: id })).map((l) => l.message);
    assert.ok(logs.includes("greeted"), logs.join("|"));
    assert.ok(logs.includes('from console {"n":1}'), logs.join("|"));
  });

  it("fails a run whose step throws, with the step's error", async () => {
    const h = hostHarness(db, clock, "cf-fail", pool);
    await h.deploy("failing", FAILING);
    const id = await h.start("failing");
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "failed");
    assert.match(run.error?.message ?? "", /no luck/);
  });

  it("waits for an event through the store and completes when it arrives", async () => {
    const h = hostHarness(db, clock, "cf-events", pool);
    await h.deploy("approval", EVENTS);
    const id = await h.start("approval", { order: "o-1" });
    await h.drain();
    assert.equal((await h.run(id)).status, "waiting");
    await db.store.sendEvent({ namespace: "cf-events", name: "order.approved", key: "o-1", payload: { by: "Bo" } });
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "completed", JSON.stringify(run.error));
    assert.deepEqual(run.output, { before: "b", approval: { by: "Bo" } });
  });

  it("fails a workflow that cannot be bundled into a Worker with WORKFLOW_LOAD_FAILED", async () => {
    const h = hostHarness(db, clock, "cf-bundle", pool);
    await h.deploy("broken", UNBUNDLABLE);
    const id = await h.start("broken");
    await h.drain();
    const run = await h.run(id);
    assert.equal(run.status, "failed");
    assert.equal(run.error?.code, "WORKFLOW_LOAD_FAILED");
    assert.match(run.error?.message ?? "", /no-such-package-anywhere/);
  });
});
