import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { openTestApp, type TestApp } from "../../tests/support/test-app.ts";
import { forEachStore } from "../../tests/support/test-db.ts";

type Json = Record<string, unknown>;

forEachStore("worker log appends are fenced by the run's lease (issue 20.9)", ({ dialect }) => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp(dialect);
  });
  after(async () => {
    await t?.close();
  });

  const claim = async (owner: string) => {
    const res = await t.json<{ runs: { run: { id: string; leaseToken: number } }[] }>("/v1/worker/claim", {
      token: t.tokens.worker,
      namespace: "team",
      json: { owner, limit: 1, queues: ["default"], waitMs: 0, leaseMs: 60_000 },
    });
    assert.equal(res.status, 200);
    const first = res.body.runs[0];
    assert.ok(first, "a run was claimed");
    return first.run;
  };
  const append = (runId: string, leaseToken: number, message: string) =>
    t.json<Json>("/v1/worker/logs", {
      token: t.tokens.worker,
      namespace: "team",
      json: { entries: [{ runId, attempt: 1, leaseToken, level: "info", message }] },
    });
  const messages = async (runId: string) => (await t.store.listLogs({ runId })).map((l) => l.message);

  it("takes lines under the run's lease, refuses lines of runs the worker does not lease", async () => {
    const { run: leased } = await t.store.startRun({ namespace: "team", type: "task", name: "a" });
    const claimed = await claim("w1");
    assert.equal(claimed.id, leased.id);
    const { run: other } = await t.store.startRun({ namespace: "team", type: "task", name: "b" });

    const ok = await append(leased.id, claimed.leaseToken, "mine");
    assert.deepEqual([ok.status, ok.body], [200, { accepted: 1, rejected: 0 }]);

    // A run nobody leased (token 0) and a made-up token: refused with LEASE_LOST.
    for (const token of [0, claimed.leaseToken, 99]) {
      const res = await append(other.id, token, "intruder");
      assert.equal(res.status, 409, `token ${token}`);
      assert.equal((res.body.error as Json).code, "LEASE_LOST");
    }
    assert.deepEqual(await messages(other.id), []);

    // A mixed batch keeps the good lines and drops the others.
    const mixed = await t.json<Json>("/v1/worker/logs", {
      token: t.tokens.worker,
      namespace: "team",
      json: {
        entries: [
          { runId: leased.id, attempt: 1, leaseToken: claimed.leaseToken, level: "info", message: "mine too" },
          { runId: other.id, attempt: 1, leaseToken: 5, level: "info", message: "intruder" },
        ],
      },
    });
    assert.deepEqual([mixed.status, mixed.body], [200, { accepted: 1, rejected: 1 }]);
    assert.deepEqual(await messages(leased.id), ["mine", "mine too"]);
    assert.deepEqual(await messages(other.id), []);
  });

  it("refuses lines under a lease taken over since, even when the takeover went through another server", async () => {
    const { run } = await t.store.startRun({ namespace: "team", type: "task", name: "c", queue: "takeover" });
    const first = await t.json<{ runs: { run: { leaseToken: number } }[] }>("/v1/worker/claim", {
      token: t.tokens.worker,
      namespace: "team",
      json: { owner: "old", limit: 1, queues: ["takeover"], waitMs: 0, leaseMs: 100 },
    });
    const oldToken = first.body.runs[0]?.run.leaseToken ?? -1;
    // The lease expires and another server's worker takes the run over (straight on the store).
    await new Promise((r) => setTimeout(r, 150));
    const taken = await t.store.claimRuns({
      namespace: "team",
      queues: ["takeover"],
      owner: "new",
      limit: 1,
      leaseMs: 60_000,
    });
    const newToken = taken.runs[0]?.run.leaseToken ?? -1;
    assert.ok(newToken > oldToken);
    const stale = await append(run.id, oldToken, "late line of the old lease");
    assert.equal(stale.status, 409);
    assert.equal((await append(run.id, newToken, "the new holder")).status, 200);
    // Finishing does not change the lease: lines flushed after the finish still land.
    await t.store.finishRuns({ items: [{ runId: run.id, leaseToken: newToken, outcome: "complete", output: 1 }] });
    assert.equal((await append(run.id, newToken, "after the finish")).status, 200);
    assert.deepEqual(await messages(run.id), ["the new holder", "after the finish"]);
  });
});
