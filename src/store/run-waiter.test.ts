import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import pg from "pg";
import {
  openTestPostgres,
  openTestSqlite,
  postgresSkip,
  postgresTestUrl,
  type TestStore,
} from "../../tests/support/test-db.ts";
import { hasCode } from "../errors.ts";
import { RunWaiter } from "./run-waiter.ts";
import { SqliteStore } from "./sqlite/sqlite-store.ts";
import type { Store } from "./store.ts";

const NS = "default";

/** Starts a task run and claims it: the lease a worker would hold. */
async function startAndClaim(store: Store): Promise<{ id: string; leaseToken: number }> {
  const { run } = await store.startRun({ namespace: NS, type: "task", name: "noop", input: null });
  const claimed = await store.claimRuns({ namespace: NS, queues: ["default"], owner: "w1", limit: 1, leaseMs: 60_000 });
  const mine = claimed.runs.find((c) => c.run.id === run.id);
  assert.ok(mine, "the run was claimed");
  return { id: run.id, leaseToken: mine.run.leaseToken };
}

/** The behaviour every store shares: resolved at the terminal commit, whatever ended the run. */
function sharedCases(name: string, open: () => Promise<TestStore>, skip: string | false) {
  describe(`RunWaiter (${name})`, { skip }, () => {
    it("resolves when a worker completes the run, with its output", async () => {
      const t = await open();
      const waiter = new RunWaiter(t.store);
      try {
        const lease = await startAndClaim(t.store);
        const waiting = waiter.waitForRun({ namespace: NS, id: lease.id });
        const [result] = await t.store.finishRuns({
          items: [{ runId: lease.id, leaseToken: lease.leaseToken, outcome: "complete", output: { n: 7 } }],
        });
        assert.equal(result?.ok, true);
        const run = await waiting;
        assert.equal(run.status, "completed");
        assert.deepEqual(run.output, { n: 7 });
        assert.equal(waiter.pending, 0);
      } finally {
        await waiter.close();
        await t.close();
      }
    });

    it("resolves when the run fails and when it is cancelled (every terminal status)", async () => {
      const t = await open();
      const waiter = new RunWaiter(t.store);
      try {
        const lease = await startAndClaim(t.store);
        const failing = waiter.waitForRun({ namespace: NS, id: lease.id });
        await t.store.finishRuns({
          items: [
            {
              runId: lease.id,
              leaseToken: lease.leaseToken,
              outcome: "fail",
              error: { code: "TASK_FAILED", message: "no" },
            },
          ],
        });
        assert.equal((await failing).status, "failed");
        const { run: queued } = await t.store.startRun({ namespace: NS, type: "task", name: "idle", input: null });
        const cancelling = waiter.waitForRun({ namespace: NS, id: queued.id });
        await t.store.cancelRun({ namespace: NS, id: queued.id });
        assert.equal((await cancelling).status, "cancelled");
      } finally {
        await waiter.close();
        await t.close();
      }
    });

    it("resolves at once for a run already terminal, and refuses an unknown run", async () => {
      const t = await open();
      const waiter = new RunWaiter(t.store);
      try {
        const lease = await startAndClaim(t.store);
        await t.store.finishRuns({
          items: [{ runId: lease.id, leaseToken: lease.leaseToken, outcome: "complete", output: 1 }],
        });
        assert.equal((await waiter.waitForRun({ namespace: NS, id: lease.id })).status, "completed");
        await assert.rejects(waiter.waitForRun({ namespace: NS, id: "run_missing" }), (e) =>
          hasCode(e, "RUN_NOT_FOUND"),
        );
      } finally {
        await waiter.close();
        await t.close();
      }
    });

    it("rejects with RUN_TIMEOUT when the run does not end in time, saying its status", async () => {
      const t = await open();
      const waiter = new RunWaiter(t.store);
      try {
        const { run } = await t.store.startRun({ namespace: NS, type: "task", name: "idle", input: null });
        await assert.rejects(waiter.waitForRun({ namespace: NS, id: run.id, timeoutMs: 20 }), (e) => {
          assert.ok(hasCode(e, "RUN_TIMEOUT"));
          assert.match((e as Error).message, /still queued/);
          return true;
        });
        assert.equal(waiter.pending, 0);
      } finally {
        await waiter.close();
        await t.close();
      }
    });
  });
}

sharedCases("sqlite", () => openTestSqlite(), false);
sharedCases("postgres", () => openTestPostgres(), postgresSkip());

describe("RunWaiter across processes (postgres)", { skip: postgresSkip() }, () => {
  it("resolves when another store instance ends the run (LISTEN/NOTIFY)", async () => {
    const t = await openTestPostgres();
    const waiter = new RunWaiter(t.store);
    try {
      const other = await t.openSibling();
      const lease = await startAndClaim(other);
      const waiting = waiter.waitForRun({ namespace: NS, id: lease.id });
      await other.finishRuns({
        items: [{ runId: lease.id, leaseToken: lease.leaseToken, outcome: "complete", output: "x" }],
      });
      assert.equal((await waiting).output, "x");
    } finally {
      await waiter.close();
      await t.close();
    }
  });

  it("does not hang on a lost notification: the listener's reconnect re-reads awaited runs", async () => {
    const t = await openTestPostgres();
    // The real store; its reads are watched so the test knows the waiter has looked once.
    let firstRead!: () => void;
    const lookedOnce = new Promise<void>((resolve) => {
      firstRead = resolve;
    });
    const watched: Pick<Store, "getRun" | "subscribeRunEnds" | "dialect"> = {
      dialect: t.store.dialect,
      subscribeRunEnds: (p) => t.store.subscribeRunEnds(p),
      getRun: async (p) => {
        const run = await t.store.getRun(p);
        firstRead();
        return run;
      },
    };
    const waiter = new RunWaiter(watched);
    const admin = new pg.Client({ connectionString: postgresTestUrl() });
    await admin.connect();
    try {
      const lease = await startAndClaim(t.store);
      const waiting = waiter.waitForRun({ namespace: NS, id: lease.id });
      await lookedOnce; // subscribed, and the run was read while still running
      // The run ends with no notification at all (as if it were lost), then the listening
      // connection is killed: only the re-read after its reconnect can resolve the wait.
      await admin.query(
        `UPDATE "${t.schema}".runs SET status = 'completed', output = '"quiet"', lease_owner = NULL WHERE id = $1`,
        [lease.id],
      );
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        [`kiln-listen/${t.schema}`],
      );
      assert.equal(killed.rowCount, 1, "one listening connection per store");
      const run = await waiting;
      assert.equal(run.status, "completed");
      assert.equal(run.output, "quiet");
    } finally {
      await admin.end();
      await waiter.close();
      await t.close();
    }
  });
});

describe("RunWaiter across processes (sqlite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-waiter-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("resolves when another store instance on the same file ends the run (bounded row poll)", async () => {
    const path = join(dir, "k.db");
    const a = await SqliteStore.open(path);
    const b = await SqliteStore.open(path);
    const waiter = new RunWaiter(a);
    try {
      const lease = await startAndClaim(b);
      const waiting = waiter.waitForRun({ namespace: NS, id: lease.id });
      await b.finishRuns({
        items: [{ runId: lease.id, leaseToken: lease.leaseToken, outcome: "complete", output: 3 }],
      });
      assert.equal((await waiting).output, 3);
    } finally {
      await waiter.close();
      await a.close();
      await b.close();
    }
  });
});
