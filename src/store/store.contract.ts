import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import type { Run } from "../engine/run.ts";
import type { Lease } from "../engine/lease.ts";
import type { ListRunsParams, Store, StoreOptions } from "./store.ts";
import type { ClaimedRun, ClaimRunsParams } from "../engine/claim.ts";
import type { SaveStepParams, WriteResult } from "../engine/writes.ts";
import type { StartRunParams } from "../engine/start-run.ts";
import type { StoreNotification } from "../engine/engine-client.ts";
import { runSpanId } from "../tracing/spans.ts";

/** How the contract opens and disposes of the store under test. */
export interface StoreHarness {
  /** A store on fresh, empty data. */
  open(options?: Readonly<StoreOptions>): Promise<Store>;
  /** Closes it and throws its data away. */
  close(store: Store): Promise<void>;
  /** A second instance on the same data (another process); omitted: the contract reuses `store`. */
  openSibling?(store: Store): Promise<Store>;
  /** A reason to skip the whole suite (e.g. no PostgreSQL), or false. */
  readonly skip?: string | false;
  /**
   * What the worker-side verbs (claim, heartbeat, steps, children, event waits, finishes, updates,
   * logs) go through, e.g. an HTTP engine client of a server on `store`; omitted: `store` itself.
   * Setup and checks use `store`, so one suite covers every engine client over every store.
   */
  openWorkerSide?(store: Store): Promise<WorkerSide>;
}

/** The fenced verbs a worker calls, as the contract uses them. */
export type WorkerVerbs = Pick<
  Store,
  | "claimRuns"
  | "extendLeases"
  | "saveSteps"
  | "startChildRun"
  | "awaitEvent"
  | "finishRuns"
  | "updateRuns"
  | "appendLogs"
>;

/** An engine client under test, and how to dispose of it. */
export interface WorkerSide {
  readonly client: WorkerVerbs;
  close(): Promise<void>;
}

const NS = "contract";
const T0 = 1_000_000;

/**
 * The one contract every Store passes, run against a real database each. Every
 * test gets a fresh store on an injected clock (`now`), so timers, leases and deadlines are
 * driven by the test, never by sleeping.
 */
export function storeContract(name: string, harness: StoreHarness): void {
  describe(`Store contract: ${name}`, { skip: harness.skip ?? false }, () => {
    let now = T0;
    let store: Store;
    /** The worker-side verbs under test: the store, or an engine client in front of it. */
    let worker: WorkerVerbs;
    let workerSide: WorkerSide | undefined;
    const clock = () => now;
    const extra: Store[] = [];

    beforeEach(async () => {
      now = T0;
      store = await harness.open({ clock });
      workerSide = await harness.openWorkerSide?.(store);
      worker = workerSide?.client ?? store;
    });
    afterEach(async () => {
      await workerSide?.close();
      for (const s of extra.splice(0)) await harness.close(s);
      await harness.close(store);
    });

    /** Another store on fresh data with other options (closed after the test). */
    async function openOther(options: Readonly<StoreOptions>): Promise<Store> {
      const other = await harness.open(options);
      extra.push(other);
      return other;
    }

    const start = async (p: Partial<StartRunParams> = {}): Promise<Run> =>
      (await store.startRun({ namespace: NS, type: "workflow", name: "wf", ...p })).run;

    const claim = async (p: Partial<ClaimRunsParams> = {}) =>
      worker.claimRuns({ namespace: NS, queues: ["default"], owner: "w1", limit: 10, leaseMs: 30_000, ...p });

    const claimOne = async (p: Partial<ClaimRunsParams> = {}): Promise<ClaimedRun> => {
      const { runs } = await claim({ limit: 1, ...p });
      assert.equal(runs.length, 1, "expected to claim one run");
      return runs[0] as ClaimedRun;
    };

    const lease = (c: ClaimedRun | Run): Lease => {
      const run = "run" in c ? c.run : c;
      return { runId: run.id, leaseToken: run.leaseToken };
    };

    const get = async (id: string): Promise<Run> => {
      const run = await store.getRun({ namespace: NS, id });
      assert.ok(run, `run ${id} exists`);
      return run;
    };

    const okWrite = (r: WriteResult | undefined): void => {
      assert.ok(r, "a result");
      assert.equal(r.ok, true, r.ok ? "" : `${r.error.code}: ${r.error.message}`);
    };

    const errorCode = (r: WriteResult | undefined): string | undefined => (r && !r.ok ? r.error.code : undefined);

    const step = (l: Lease, name: string, seq: number, p: Partial<SaveStepParams> = {}): SaveStepParams => ({
      ...l,
      name,
      seq,
      type: "step",
      status: "completed",
      output: { name },
      ...p,
    });

    // ── runs ───────────────────────────────────────────────────────────────────────────────

    describe("startRun / getRun / listRuns", () => {
      it("creates a queued run with every default filled in", async () => {
        const run = await start({ input: { a: 1 }, metadata: { team: "x" }, timeoutMs: 5000 });
        assert.match(run.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);
        assert.equal(run.status, "queued");
        assert.equal(run.attempt, 1);
        assert.equal(run.queue, "default");
        assert.equal(run.priority, 0);
        assert.equal(run.rootRunId, run.id);
        assert.equal(run.leaseToken, 0);
        assert.equal(run.leaseOwner, null);
        assert.equal(run.availableAt, T0);
        assert.equal(run.deadlineAt, T0 + 5000);
        assert.equal(run.createdAt, T0);
        assert.deepEqual(run.state, {});
        assert.deepEqual(run.input, { a: 1 });
        assert.deepEqual(run.metadata, { team: "x" });
        assert.deepEqual(await get(run.id), run);
      });

      it("uses a given id, and refuses a second run with it", async () => {
        const id = "01900000-0000-7000-8000-000000000001";
        const run = await start({ id });
        assert.equal(run.id, id);
        await assert.rejects(start({ id }), (e) => hasCode(e, "INVALID_INPUT"));
      });

      it("lists runs by a single status, running and completed included", async () => {
        const a = await start();
        const b = await start();
        await start();
        const { runs } = await claim({ limit: 2 });
        okWrite((await worker.finishRuns({ items: [{ ...lease(runs[0] as ClaimedRun), outcome: "complete" }] }))[0]);
        const ids = (status: Run["status"]) =>
          store.listRuns({ namespace: NS, status }).then((page) => page.runs.map((r) => r.id));
        assert.deepEqual(await ids("completed"), [a.id]);
        assert.deepEqual(await ids("running"), [b.id]);
        assert.equal((await ids("queued")).length, 1);
        assert.deepEqual(await ids("failed"), []);
      });

      it("finds runs only in their namespace", async () => {
        const run = await start();
        assert.equal(await store.getRun({ namespace: "other", id: run.id }), undefined);
        assert.equal(await store.getRun({ namespace: NS, id: "00000000-0000-7000-8000-000000000000" }), undefined);
      });

      it("startRuns creates many runs in one call", async () => {
        const results = await store.startRuns({
          runs: [1, 2, 3].map((i) => ({ namespace: NS, type: "task" as const, name: `t${i}`, input: i })),
        });
        assert.deepEqual(
          results.map((r) => [r.created, r.run.name, r.run.input]),
          [
            [true, "t1", 1],
            [true, "t2", 2],
            [true, "t3", 3],
          ],
        );
        for (const r of results) assert.deepEqual(await get(r.run.id), r.run);
      });

      it("lists newest first with a cursor, and filters", async () => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await start({ name: i % 2 ? "odd" : "even", type: "workflow" })).id);
        await store.startRun({ namespace: "other", type: "task", name: "elsewhere" });
        const first = await store.listRuns({ namespace: NS, limit: 2 });
        assert.deepEqual(
          first.runs.map((r) => r.id),
          [ids[4], ids[3]],
        );
        assert.ok(first.nextCursor);
        const second = await store.listRuns({ namespace: NS, limit: 2, cursor: first.nextCursor });
        assert.deepEqual(
          second.runs.map((r) => r.id),
          [ids[2], ids[1]],
        );
        const third = await store.listRuns({ namespace: NS, limit: 2, cursor: second.nextCursor as string });
        assert.deepEqual(
          third.runs.map((r) => r.id),
          [ids[0]],
        );
        assert.equal(third.nextCursor, null);
        assert.equal((await store.listRuns({ namespace: NS, name: "odd" })).runs.length, 2);
        assert.equal((await store.listRuns({ namespace: NS, type: "task" })).runs.length, 0);
        assert.equal((await store.listRuns({ namespace: NS, status: "queued" })).runs.length, 5);
        assert.equal((await store.listRuns({ namespace: NS, status: ["running", "failed"] })).runs.length, 0);
        await claimOne();
        assert.equal((await store.listRuns({ namespace: NS, status: ["running", "failed"] })).runs.length, 1);
      });

      it("filters by idempotency key and by creation time", async () => {
        const early = await start({ idempotencyKey: "order-1" });
        now += 60_000;
        const late = await start({ idempotencyKey: "order-2" });
        const ids = (p: Partial<ListRunsParams>) =>
          store.listRuns({ namespace: NS, ...p }).then((page) => page.runs.map((r) => r.id));
        assert.deepEqual(await ids({ idempotencyKey: "order-1" }), [early.id]);
        assert.deepEqual(await ids({ idempotencyKey: "order-3" }), []);
        assert.deepEqual(await ids({ createdAfter: T0 + 1 }), [late.id]);
        assert.deepEqual(await ids({ createdBefore: T0 + 1 }), [early.id]);
        assert.deepEqual(await ids({ createdAfter: T0, createdBefore: T0 + 60_001 }), [late.id, early.id]);
      });

      it("returns the existing run for a repeated idempotency key", async () => {
        const a = await store.startRun({ namespace: NS, type: "task", name: "t", idempotencyKey: "k1" });
        const b = await store.startRun({ namespace: NS, type: "task", name: "t", idempotencyKey: "k1", input: 2 });
        assert.equal(a.created, true);
        assert.equal(b.created, false);
        assert.equal(b.run.id, a.run.id);
        const elsewhere = await store.startRun({ namespace: "other", type: "task", name: "t", idempotencyKey: "k1" });
        assert.equal(elsewhere.created, true);
        const batch = await store.startRuns({
          runs: [
            { namespace: NS, type: "task", name: "t", idempotencyKey: "k2" },
            { namespace: NS, type: "task", name: "t", idempotencyKey: "k2" },
          ],
        });
        assert.deepEqual(
          batch.map((r) => r.created),
          [true, false],
        );
        assert.equal(batch[0]?.run.id, batch[1]?.run.id);
        assert.equal((await store.listRuns({ namespace: NS })).runs.length, 2);
      });

      it("rejects an idempotency key reused for another run name or type", async () => {
        await store.startRun({ namespace: NS, type: "task", name: "t", idempotencyKey: "k" });
        await assert.rejects(store.startRun({ namespace: NS, type: "task", name: "other", idempotencyKey: "k" }), (e) =>
          hasCode(e, "IDEMPOTENCY_CONFLICT"),
        );
        await assert.rejects(store.startRun({ namespace: NS, type: "workflow", name: "t", idempotencyKey: "k" }), (e) =>
          hasCode(e, "IDEMPOTENCY_CONFLICT"),
        );
      });

      it("rejects payloads over the cap with PAYLOAD_TOO_LARGE", async () => {
        const small = await openOther({ clock, maxPayloadBytes: 1000 });
        const big = "x".repeat(2000);
        await assert.rejects(small.startRun({ namespace: NS, type: "task", name: "t", input: big }), (e) =>
          hasCode(e, "PAYLOAD_TOO_LARGE"),
        );
        await assert.rejects(small.sendEvent({ namespace: NS, name: "e", payload: big }), (e) =>
          hasCode(e, "PAYLOAD_TOO_LARGE"),
        );
        const { run } = await small.startRun({ namespace: NS, type: "task", name: "t", input: "ok" });
        const [claimed] = (
          await small.claimRuns({ namespace: NS, queues: ["default"], owner: "w", limit: 1, leaseMs: 1000 })
        ).runs;
        assert.ok(claimed);
        const l = lease(claimed);
        const [saved] = await small.saveSteps({ steps: [step(l, "s", 0, { output: big })] });
        assert.equal(errorCode(saved), "PAYLOAD_TOO_LARGE");
        assert.deepEqual(await small.listSteps({ runId: run.id }), []);
        const [finished] = await small.finishRuns({ items: [{ ...l, outcome: "complete", output: big }] });
        assert.equal(errorCode(finished), "PAYLOAD_TOO_LARGE");
        assert.equal((await small.getRun({ namespace: NS, id: run.id }))?.status, "running");
        // A huge error is still recorded (shortened), so a failure can always be written down.
        const [failed] = await small.finishRuns({
          items: [{ ...l, outcome: "fail", error: { code: "TASK_FAILED", message: big } }],
        });
        okWrite(failed);
        const after = await small.getRun({ namespace: NS, id: run.id });
        assert.equal(after?.status, "failed");
        assert.equal(after?.error?.code, "TASK_FAILED");
      });
    });

    // ── claiming ───────────────────────────────────────────────────────────────────────────

    describe("claimRuns", () => {
      it("claims by priority, then availability, then age, and takes a lease", async () => {
        const low = await start({ name: "low" });
        now += 10;
        const high = await start({ name: "high", priority: 5 });
        const early = await start({ name: "early", availableAt: T0 - 100 });
        const { runs } = await claim({ limit: 10, leaseMs: 1000 });
        assert.deepEqual(
          runs.map((c) => c.run.id),
          [high.id, early.id, low.id],
        );
        for (const c of runs) {
          assert.equal(c.run.status, "running");
          assert.equal(c.run.leaseOwner, "w1");
          assert.equal(c.run.leaseToken, 1);
          assert.equal(c.run.leaseExpiresAt, now + 1000);
          assert.equal(c.run.startedAt, now);
          assert.deepEqual(c.steps, []);
        }
      });

      it("skips leased runs and runs not yet due, and says when to look again", async () => {
        const due = await start();
        const later = await start({ availableAt: T0 + 5000 });
        const first = await claim();
        assert.deepEqual(
          first.runs.map((c) => c.run.id),
          [due.id],
        );
        assert.equal(first.nextWakeAt, T0 + 5000);
        const second = await claim({ owner: "w2" });
        assert.deepEqual(second.runs, []);
        assert.equal(second.nextWakeAt, T0 + 5000);
        assert.equal(await store.getNextWakeAt({ namespace: NS }), T0 + 5000);
        assert.equal(await store.getNextWakeAt({}), T0 + 5000);
        assert.equal(await store.getNextWakeAt({ namespace: "other" }), null);
        now = T0 + 5000;
        const third = await claim({ owner: "w2" });
        assert.deepEqual(
          third.runs.map((c) => c.run.id),
          [later.id],
        );
        assert.equal(third.nextWakeAt, null);
      });

      it("claims only from the given queues and names, up to the limit", async () => {
        await start({ queue: "a", name: "x" });
        await start({ queue: "b", name: "y" });
        await start({ queue: "a", name: "y" });
        await start({ queue: "c", name: "x" });
        assert.equal((await claim({ queues: ["a"], names: ["y"] })).runs.length, 1);
        assert.equal((await claim({ queues: ["a", "b"], limit: 1 })).runs.length, 1);
        assert.equal((await claim({ queues: ["a", "b"] })).runs.length, 1);
        assert.equal((await claim({ queues: ["a", "b"] })).runs.length, 0);
        assert.equal((await claim({ queues: ["c"], names: ["nope"] })).runs.length, 0);
      });

      it("returns the recorded steps of a claimed run in seq order", async () => {
        const run = await start();
        const c = await claimOne();
        const l = lease(c);
        const results = await worker.saveSteps({ steps: [step(l, "b", 1), step(l, "a", 0)] });
        results.forEach(okWrite);
        okWrite((await worker.finishRuns({ items: [{ ...l, outcome: "release" }] }))[0]);
        const again = await claimOne();
        assert.equal(again.run.id, run.id);
        assert.deepEqual(
          again.steps.map((s) => [s.name, s.seq, s.status, s.output]),
          [
            ["a", 0, "completed", { name: "a" }],
            ["b", 1, "completed", { name: "b" }],
          ],
        );
      });

      it("takes over a run whose lease expired, raising the token (and a task's attempt)", async () => {
        const task = await start({ type: "task", name: "t" });
        const wf = await start({ name: "w" });
        const first = await claim({ leaseMs: 1000 });
        assert.equal(first.runs.length, 2);
        assert.equal((await claim({ owner: "w2" })).runs.length, 0);
        now += 1000;
        const second = await claim({ owner: "w2" });
        const byId = new Map(second.runs.map((c) => [c.run.id, c.run]));
        assert.equal(byId.get(task.id)?.leaseToken, 2);
        assert.equal(byId.get(task.id)?.attempt, 2);
        assert.equal(byId.get(task.id)?.leaseOwner, "w2");
        assert.equal(byId.get(wf.id)?.leaseToken, 2);
        assert.equal(byId.get(wf.id)?.attempt, 1);
        const stale = first.runs.find((c) => c.run.id === task.id) as ClaimedRun;
        const [r] = await worker.finishRuns({ items: [{ ...lease(stale), outcome: "complete" }] });
        assert.equal(errorCode(r), "LEASE_LOST");
        assert.equal((await get(task.id)).status, "running");
      });

      it("extends leases, and reports lost ones", async () => {
        await start();
        const c = await claimOne({ leaseMs: 1000 });
        now += 500;
        const res = await worker.extendLeases({
          owner: "w1",
          leaseMs: 1000,
          leases: [lease(c), { runId: c.run.id, leaseToken: 99 }],
        });
        assert.deepEqual(res, { lost: [], cancelRequested: [] });
        assert.equal((await get(c.run.id)).leaseExpiresAt, now + 1000);
        now += 999;
        assert.equal((await claim({ owner: "w2" })).runs.length, 0, "the extended lease still holds");
        now += 1;
        assert.equal((await claim({ owner: "w2" })).runs.length, 1);
        const lost = await worker.extendLeases({ owner: "w1", leaseMs: 1000, leases: [lease(c)] });
        assert.deepEqual(lost, { lost: [c.run.id], cancelRequested: [] });
      });

      it("never gives one run to two concurrent claimers", async () => {
        await store.startRuns({
          runs: Array.from({ length: 40 }, (_, i) => ({ namespace: NS, type: "task" as const, name: `t${i}` })),
        });
        const results = await Promise.all(
          ["a", "b", "c", "d"].map((owner) => claim({ owner, limit: 10, leaseMs: 60_000 })),
        );
        const ids = results.flatMap((r) => r.runs.map((c) => c.run.id));
        assert.equal(new Set(ids).size, ids.length, "claims are disjoint");
        assert.equal(ids.length, 40);
        for (const [i, owner] of ["a", "b", "c", "d"].entries()) {
          for (const c of results[i]?.runs ?? []) assert.equal(c.run.leaseOwner, owner);
        }
      });

      it("never exceeds a queue's limit under concurrent claimers", async () => {
        await store.setQueue({ namespace: NS, name: "q", concurrencyLimit: 3, keyConcurrencyLimit: 1 });
        await store.startRuns({
          runs: Array.from({ length: 12 }, (_, i) => ({
            namespace: NS,
            type: "task" as const,
            name: "t",
            queue: "q",
            concurrencyKey: `k${i % 2}`,
          })),
        });
        const results = await Promise.all(["a", "b", "c", "d"].map((owner) => claim({ owner, queues: ["q"] })));
        const claimed = results.flatMap((r) => r.runs.map((c) => c.run));
        assert.equal(claimed.length, 2, "one run per key, two keys");
        assert.deepEqual(new Set(claimed.map((r) => r.concurrencyKey)), new Set(["k0", "k1"]));
      });

      it("respects a queue's concurrency limit", async () => {
        assert.equal(await store.getQueue({ namespace: NS, name: "q" }), undefined);
        const settings = { namespace: NS, name: "q", concurrencyLimit: 2, keyConcurrencyLimit: null };
        assert.deepEqual(await store.setQueue(settings), settings);
        assert.deepEqual(await store.getQueue({ namespace: NS, name: "q" }), settings);
        for (let i = 0; i < 5; i++) await start({ queue: "q" });
        const first = await claim({ queues: ["q"] });
        assert.equal(first.runs.length, 2);
        assert.equal((await claim({ queues: ["q"], owner: "w2" })).runs.length, 0);
        okWrite(
          (await worker.finishRuns({ items: [{ ...lease(first.runs[0] as ClaimedRun), outcome: "complete" }] }))[0],
        );
        assert.equal((await claim({ queues: ["q"], owner: "w2" })).runs.length, 1);
        assert.equal((await claim({ queues: ["q"], owner: "w2" })).runs.length, 0);
        await store.setQueue({ ...settings, concurrencyLimit: null });
        assert.equal((await claim({ queues: ["q"], owner: "w3" })).runs.length, 2);
      });

      it("respects a queue's per-key concurrency limit", async () => {
        await store.setQueue({ namespace: NS, name: "q", concurrencyLimit: null, keyConcurrencyLimit: 1 });
        const a1 = await start({ queue: "q", concurrencyKey: "a" });
        const a2 = await start({ queue: "q", concurrencyKey: "a" });
        const b1 = await start({ queue: "q", concurrencyKey: "b" });
        const free = await start({ queue: "q" });
        const first = await claim({ queues: ["q"] });
        assert.deepEqual(new Set(first.runs.map((c) => c.run.id)), new Set([a1.id, b1.id, free.id]));
        assert.equal((await claim({ queues: ["q"] })).runs.length, 0);
        const a1Claim = first.runs.find((c) => c.run.id === a1.id) as ClaimedRun;
        okWrite((await worker.finishRuns({ items: [{ ...lease(a1Claim), outcome: "complete" }] }))[0]);
        assert.deepEqual(
          (await claim({ queues: ["q"] })).runs.map((c) => c.run.id),
          [a2.id],
        );
      });

      it("rejects invalid queue limits", async () => {
        await assert.rejects(
          store.setQueue({ namespace: NS, name: "q", concurrencyLimit: 0, keyConcurrencyLimit: null }),
          (e) => hasCode(e, "INVALID_INPUT"),
        );
      });
    });

    // ── fencing and steps ──────────────────────────────────────────────────────────────────

    describe("fenced writes", () => {
      it("rejects every fenced write carrying a stale token with LEASE_LOST, changing nothing", async () => {
        const run = await start();
        const c1 = await claimOne({ leaseMs: 1000 });
        now += 1000;
        const c2 = await claimOne({ owner: "w2" });
        assert.equal(c2.run.leaseToken, c1.run.leaseToken + 1);
        const stale = lease(c1);
        assert.equal(errorCode((await worker.saveSteps({ steps: [step(stale, "s", 0)] }))[0]), "LEASE_LOST");
        const child = await worker.startChildRun({
          ...stale,
          stepName: "c",
          seq: 0,
          child: { type: "task", name: "t" },
        });
        assert.equal(errorCode(child), "LEASE_LOST");
        assert.equal(child.childRunId, undefined);
        const ev = await worker.awaitEvent({ ...stale, stepName: "e", seq: 0, eventName: "go" });
        assert.equal(errorCode(ev), "LEASE_LOST");
        for (const outcome of ["complete", "release", "cancelled"] as const) {
          assert.equal(errorCode((await worker.finishRuns({ items: [{ ...stale, outcome }] }))[0]), "LEASE_LOST");
        }
        const park = { ...stale, outcome: "park" as const, status: "sleeping" as const, wakeAt: now + 10 };
        assert.equal(errorCode((await worker.finishRuns({ items: [park] }))[0]), "LEASE_LOST");
        assert.equal(
          errorCode((await worker.updateRuns({ items: [{ ...stale, state: { k: "v" } }] }))[0]),
          "LEASE_LOST",
        );
        const ext = await worker.extendLeases({ owner: "w1", leaseMs: 1000, leases: [stale] });
        assert.deepEqual(ext.lost, [run.id]);
        const after = await get(run.id);
        assert.equal(after.status, "running");
        assert.equal(after.leaseOwner, "w2");
        assert.deepEqual(after.state, {});
        assert.deepEqual(await store.listSteps({ runId: run.id }), []);
        assert.equal((await store.listRuns({ namespace: NS })).runs.length, 1, "no child was started");
        // The current token works, and a finished run accepts no more writes.
        okWrite((await worker.finishRuns({ items: [{ ...lease(c2), outcome: "complete", output: 1 }] }))[0]);
        assert.equal(errorCode((await worker.saveSteps({ steps: [step(lease(c2), "s", 0)] }))[0]), "LEASE_LOST");
      });

      it("rejects a write to a run that holds no lease", async () => {
        const run = await start();
        const l = { runId: run.id, leaseToken: 0 };
        assert.equal(errorCode((await worker.saveSteps({ steps: [step(l, "s", 0)] }))[0]), "LEASE_LOST");
        const missing = { runId: "00000000-0000-7000-8000-000000000000", leaseToken: 1 };
        assert.equal(
          errorCode((await worker.finishRuns({ items: [{ ...missing, outcome: "complete" }] }))[0]),
          "LEASE_LOST",
        );
      });

      it("records a settled step once: STEP_ALREADY_RECORDED afterwards", async () => {
        const run = await start();
        const l = lease(await claimOne());
        okWrite((await worker.saveSteps({ steps: [step(l, "s", 0, { status: "running", output: undefined })] }))[0]);
        okWrite((await worker.saveSteps({ steps: [step(l, "s", 0, { output: 1 })] }))[0]);
        const [again] = await worker.saveSteps({ steps: [step(l, "s", 0, { output: 2 })] });
        assert.equal(errorCode(again), "STEP_ALREADY_RECORDED");
        const batch = await worker.saveSteps({
          steps: [step(l, "t", 1, { output: "a" }), step(l, "t", 1, { output: "b" })],
        });
        okWrite(batch[0]);
        assert.equal(errorCode(batch[1]), "STEP_ALREADY_RECORDED");
        const steps = await store.listSteps({ runId: run.id });
        assert.deepEqual(
          steps.map((s) => [s.name, s.output, s.status]),
          [
            ["s", 1, "completed"],
            ["t", "a", "completed"],
          ],
        );
        assert.equal(steps[0]?.finishedAt, now);
      });

      it("writes a batch whole or not at all", async () => {
        const run = await start();
        const l = lease(await claimOne());
        const bogus = step(l, "b", 1, { status: "bogus" as SaveStepParams["status"] });
        await assert.rejects(worker.saveSteps({ steps: [step(l, "a", 0), bogus] }));
        assert.deepEqual(await store.listSteps({ runId: run.id }), []);
        const [ok] = await worker.saveSteps({ steps: [step(l, "a", 0)] });
        okWrite(ok);
        assert.equal((await store.listSteps({ runId: run.id })).length, 1, "the store is usable after a failure");
      });

      it("records failed attempts waiting for a retry, and compensable steps", async () => {
        const run = await start();
        const l = lease(await claimOne());
        const error = { code: "STEP_FAILED", message: "boom" };
        const results = await worker.saveSteps({
          steps: [
            step(l, "a", 0, { status: "running", attempt: 1, error, wakeAt: now + 500, output: undefined }),
            step(l, "b", 1, { compensable: true, startedAt: now - 5 }),
          ],
        });
        results.forEach(okWrite);
        const [a, b] = await store.listSteps({ runId: run.id });
        assert.deepEqual([a?.status, a?.error, a?.wakeAt, a?.finishedAt], ["running", error, now + 500, null]);
        assert.deepEqual([b?.compensable, b?.startedAt], [true, now - 5]);
      });

      it("merges state (null deletes a key) and sets progress", async () => {
        const run = await start();
        const l = lease(await claimOne());
        okWrite((await worker.updateRuns({ items: [{ ...l, state: { a: "1", b: "2" } }] }))[0]);
        const res = await worker.updateRuns({
          items: [
            { ...l, state: { b: null, c: "3" }, progress: { percent: 50, message: "half" } },
            { ...l, state: { d: "4" } },
          ],
        });
        res.forEach(okWrite);
        const after = await get(run.id);
        assert.deepEqual(after.state, { a: "1", c: "3", d: "4" });
        assert.deepEqual(after.progress, { percent: 50, message: "half" });
        // State survives a retry.
        okWrite(
          (
            await worker.finishRuns({
              items: [{ ...l, outcome: "fail", error: { code: "TASK_FAILED", message: "x" }, retryAt: now }],
            })
          )[0],
        );
        assert.deepEqual((await claimOne()).run.state, { a: "1", c: "3", d: "4" });
      });
    });

    // ── finishing ──────────────────────────────────────────────────────────────────────────

    describe("finishRuns", () => {
      it("completes a run with its output and releases the lease", async () => {
        const run = await start();
        const l = lease(await claimOne());
        now += 7;
        const [r] = await worker.finishRuns({ items: [{ ...l, outcome: "complete", output: { done: true } }] });
        assert.deepEqual(r, { ok: true, cancelRequested: false });
        const after = await get(run.id);
        assert.equal(after.status, "completed");
        assert.deepEqual(after.output, { done: true });
        assert.equal(after.finishedAt, now);
        assert.equal(after.leaseOwner, null);
        assert.equal(after.availableAt, null);
      });

      it("finishes a batch with mixed outcomes and per-item results", async () => {
        await store.startRuns({
          runs: [1, 2, 3, 4].map((i) => ({ namespace: NS, type: "task" as const, name: `t${i}` })),
        });
        const { runs } = await claim();
        const [a, b, c, d] = runs.map(lease) as [Lease, Lease, Lease, Lease];
        const results = await worker.finishRuns({
          items: [
            { ...a, outcome: "complete", output: "A" },
            { ...b, outcome: "fail", error: { code: "TASK_FAILED", message: "no" } },
            { ...c, leaseToken: 42, outcome: "complete" },
            { ...d, outcome: "release" },
            { ...a, outcome: "complete", output: "again" },
          ],
        });
        assert.deepEqual(
          results.map((r) => (r.ok ? "ok" : r.error.code)),
          ["ok", "ok", "LEASE_LOST", "ok", "LEASE_LOST"],
        );
        assert.equal((await get(a.runId)).output, "A");
        assert.equal((await get(b.runId)).status, "failed");
        assert.equal((await get(c.runId)).status, "running");
        assert.equal((await get(d.runId)).status, "queued");
      });

      it("retries a failed attempt later: attempt + 1, failed steps forgotten", async () => {
        const run = await start({ type: "task", name: "t" });
        const l = lease(await claimOne());
        await worker.saveSteps({
          steps: [step(l, "ok", 0), step(l, "bad", 1, { status: "failed", error: { code: "X", message: "x" } })],
        });
        const error = { code: "TASK_FAILED", message: "exit 75" };
        okWrite((await worker.finishRuns({ items: [{ ...l, outcome: "fail", error, retryAt: now + 1000 }] }))[0]);
        const after = await get(run.id);
        assert.deepEqual(
          [after.status, after.attempt, after.availableAt, after.error, after.leaseOwner],
          ["queued", 2, now + 1000, error, null],
        );
        assert.deepEqual(
          (await store.listSteps({ runId: run.id })).map((s) => s.name),
          ["ok"],
        );
        assert.equal((await claim()).runs.length, 0);
        now += 1000;
        const again = await claimOne();
        assert.equal(again.run.attempt, 2);
        assert.equal(again.run.leaseToken, 2);
      });

      it("fails terminally, or moves to compensating (claimable) when asked", async () => {
        const a = await start({ name: "a" });
        const b = await start({ name: "b" });
        const { runs } = await claim();
        const error = { code: "WORKFLOW_FAILED", message: "bad" };
        const la = lease(runs.find((c) => c.run.id === a.id) as ClaimedRun);
        const lb = lease(runs.find((c) => c.run.id === b.id) as ClaimedRun);
        await worker.finishRuns({
          items: [
            { ...la, outcome: "fail", error },
            { ...lb, outcome: "fail", error, compensate: true },
          ],
        });
        const fa = await get(a.id);
        assert.deepEqual([fa.status, fa.error, fa.finishedAt], ["failed", error, now]);
        assert.equal((await get(b.id)).status, "compensating");
        const c = await claimOne();
        assert.equal(c.run.id, b.id);
        assert.equal(c.run.status, "compensating", "claiming keeps the compensating status");
        okWrite((await worker.finishRuns({ items: [{ ...lease(c), outcome: "compensated" }] }))[0]);
        const fb = await get(b.id);
        assert.deepEqual([fb.status, fb.error], ["compensated", error]);
      });

      it("parks a run until its timer, then wakes it", async () => {
        const run = await start();
        const l = lease(await claimOne());
        await worker.saveSteps({
          steps: [step(l, "nap", 0, { type: "sleep", status: "waiting", wakeAt: now + 5000 })],
        });
        const [r] = await worker.finishRuns({
          items: [{ ...l, outcome: "park", status: "sleeping", wakeAt: now + 5000 }],
        });
        okWrite(r);
        const parked = await get(run.id);
        assert.deepEqual([parked.status, parked.leaseOwner, parked.availableAt], ["sleeping", null, T0 + 5000]);
        const idle = await claim();
        assert.deepEqual(idle, { runs: [], nextWakeAt: T0 + 5000 });
        now = T0 + 4999;
        assert.equal((await claim()).runs.length, 0);
        now = T0 + 5000;
        const woken = await claimOne();
        assert.equal(woken.run.id, run.id);
        assert.equal(woken.run.status, "running");
        assert.deepEqual(
          woken.steps.map((s) => s.name),
          ["nap"],
        );
      });

      it("parks until a signal (no timer) and releases a lease untouched", async () => {
        const run = await start();
        const c = await claimOne();
        okWrite(
          (await worker.finishRuns({ items: [{ ...lease(c), outcome: "park", status: "waiting", wakeAt: null }] }))[0],
        );
        assert.equal((await get(run.id)).status, "waiting");
        now += 10 ** 9;
        assert.equal((await claim()).runs.length, 0);
        assert.equal(await store.getNextWakeAt({ namespace: NS }), null);
        const other = await start();
        const o = await claimOne();
        assert.equal(o.run.id, other.id);
        okWrite((await worker.finishRuns({ items: [{ ...lease(o), outcome: "release" }] }))[0]);
        const released = await get(other.id);
        assert.deepEqual([released.status, released.leaseOwner, released.availableAt], ["queued", null, now]);
        assert.equal((await claimOne()).run.leaseToken, 2);
      });

      it("records the terminal outcomes cancelled and timed_out", async () => {
        const a = await start({ name: "a" });
        const b = await start({ name: "b" });
        const { runs } = await claim();
        const find = (id: string) => lease(runs.find((c) => c.run.id === id) as ClaimedRun);
        const timeout = { code: "RUN_TIMEOUT", message: "too slow" };
        await worker.finishRuns({
          items: [
            { ...find(a.id), outcome: "cancelled" },
            { ...find(b.id), outcome: "timed_out", error: timeout },
          ],
        });
        assert.equal((await get(a.id)).status, "cancelled");
        const tb = await get(b.id);
        assert.deepEqual([tb.status, tb.error], ["timed_out", timeout]);
      });
    });

    // ── children ───────────────────────────────────────────────────────────────────────────

    describe("child runs", () => {
      async function parentWithChild(stepName = "child") {
        const parent = await start({ name: "parent" });
        const p = await claimOne({ names: ["parent"] });
        const res = await worker.startChildRun({
          ...lease(p),
          stepName,
          seq: 0,
          child: { type: "task", name: "kid", input: { n: 1 }, queue: "kids" },
        });
        okWrite(res);
        assert.ok(res.childRunId);
        return { parent, p, childId: res.childRunId };
      }

      it("starts a child idempotently per parent step, inheriting the root", async () => {
        const { parent, p, childId } = await parentWithChild();
        const child = await get(childId);
        assert.deepEqual(
          [child.parentRunId, child.parentStepName, child.rootRunId, child.idempotencyKey, child.queue, child.status],
          [parent.id, "child", parent.id, `${parent.id}/child`, "kids", "queued"],
        );
        assert.deepEqual(child.input, { n: 1 });
        const [s] = await store.listSteps({ runId: parent.id });
        assert.deepEqual([s?.type, s?.status, s?.childRunId], ["child", "waiting", childId]);
        const replay = await worker.startChildRun({
          ...lease(p),
          stepName: "child",
          seq: 0,
          child: { type: "task", name: "kid" },
        });
        assert.deepEqual(replay, { ok: true, cancelRequested: false, childRunId: childId });
        assert.equal((await store.listRuns({ namespace: NS, parentRunId: parent.id })).runs.length, 1);
        // A grandchild inherits the root.
        const c = await claimOne({ queues: ["kids"] });
        const gc = await worker.startChildRun({
          ...lease(c),
          stepName: "g",
          seq: 0,
          child: { type: "task", name: "g" },
        });
        assert.equal((await get(gc.childRunId as string)).rootRunId, parent.id);
      });

      it("a child of a run in a given trace continues it, under the parent's run span", async () => {
        const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        const parent = await start({ name: "parent", metadata: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
        const p = await claimOne({ names: ["parent"] });
        const child = (child: { type: "task"; name: string; metadata?: Record<string, unknown> }, stepName: string) =>
          worker.startChildRun({ ...lease(p), stepName, seq: 0, child });
        const traced = await child({ type: "task", name: "kid" }, "traced");
        assert.deepEqual((await get(traced.childRunId as string)).metadata, {
          traceparent: `00-${traceId}-${runSpanId(parent.id)}-01`,
        });
        // A traceparent the caller gives wins; other metadata is kept beside the inherited one.
        const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        const given = await child({ type: "task", name: "kid", metadata: { traceparent: own } }, "own");
        assert.deepEqual((await get(given.childRunId as string)).metadata, { traceparent: own });
        const tagged = await child({ type: "task", name: "kid", metadata: { team: "a" } }, "tagged");
        assert.deepEqual((await get(tagged.childRunId as string)).metadata, {
          team: "a",
          traceparent: `00-${traceId}-${runSpanId(parent.id)}-01`,
        });
        // A parent in no given trace: its child stays in the trace of their root run's id.
        await start({ name: "plain" });
        const q = await claimOne({ names: ["plain"] });
        const plain = await worker.startChildRun({
          ...lease(q),
          stepName: "c",
          seq: 0,
          child: { type: "task", name: "kid" },
        });
        assert.deepEqual((await get(plain.childRunId as string)).metadata, {});
      });

      it("settles the parent's step with the child's output and wakes the parent", async () => {
        const { parent, p, childId } = await parentWithChild();
        okWrite(
          (await worker.finishRuns({ items: [{ ...lease(p), outcome: "park", status: "waiting", wakeAt: null }] }))[0],
        );
        const c = await claimOne({ queues: ["kids"] });
        assert.equal(c.run.id, childId);
        now += 3;
        okWrite((await worker.finishRuns({ items: [{ ...lease(c), outcome: "complete", output: { sum: 3 } }] }))[0]);
        const [s] = await store.listSteps({ runId: parent.id });
        assert.deepEqual([s?.status, s?.output, s?.finishedAt], ["completed", { sum: 3 }, now]);
        const woken = await get(parent.id);
        assert.deepEqual([woken.status, woken.availableAt], ["queued", now]);
        const again = await claimOne({ names: ["parent"] });
        assert.equal(again.run.id, parent.id);
        assert.equal(again.steps[0]?.status, "completed");
      });

      it("fails the parent's step with CHILD_FAILED when the child fails", async () => {
        const { parent, p, childId } = await parentWithChild();
        await worker.finishRuns({ items: [{ ...lease(p), outcome: "park", status: "waiting", wakeAt: null }] });
        const c = await claimOne({ queues: ["kids"] });
        const error = { code: "TASK_FAILED", message: "exit 1" };
        okWrite((await worker.finishRuns({ items: [{ ...lease(c), outcome: "fail", error }] }))[0]);
        const [s] = await store.listSteps({ runId: parent.id });
        assert.equal(s?.status, "failed");
        assert.equal(s?.error?.code, "CHILD_FAILED");
        assert.match(s?.error?.message ?? "", new RegExp(childId));
        assert.deepEqual(s?.error?.data, { childRunId: childId, status: "failed", error });
        assert.equal((await get(parent.id)).status, "queued");
      });

      it("marks a leased parent for wake-up: its park goes straight back to queued", async () => {
        const { parent, p } = await parentWithChild();
        const c = await claimOne({ queues: ["kids"] });
        okWrite((await worker.finishRuns({ items: [{ ...lease(c), outcome: "complete", output: 1 }] }))[0]);
        const mid = await get(parent.id);
        assert.deepEqual([mid.status, mid.leaseOwner], ["running", "w1"]);
        okWrite(
          (await worker.finishRuns({ items: [{ ...lease(p), outcome: "park", status: "waiting", wakeAt: null }] }))[0],
        );
        const after = await get(parent.id);
        assert.deepEqual([after.status, after.availableAt], ["queued", now]);
        const again = await claimOne({ names: ["parent"] });
        assert.equal(again.steps[0]?.output, 1);
      });

      it("settles every child step when children finish concurrently", async () => {
        const parent = await start({ name: "parent" });
        const p = await claimOne({ names: ["parent"] });
        for (let i = 0; i < 8; i++) {
          okWrite(
            await worker.startChildRun({
              ...lease(p),
              stepName: `k${i}`,
              seq: i,
              child: { type: "task", name: "kid" },
            }),
          );
        }
        const kids = (await claim({ names: ["kid"], owner: "k" })).runs;
        assert.equal(kids.length, 8);
        const results = await Promise.all([
          ...kids.map((c) => worker.finishRuns({ items: [{ ...lease(c), outcome: "complete", output: c.run.id }] })),
          worker.finishRuns({ items: [{ ...lease(p), outcome: "park", status: "waiting", wakeAt: null }] }),
        ]);
        for (const r of results) okWrite(r[0]);
        const steps = await store.listSteps({ runId: parent.id });
        assert.deepEqual(
          steps.map((s) => [s.status, s.output]),
          steps.map((s) => ["completed", s.childRunId]),
        );
        assert.equal((await get(parent.id)).status, "queued", "the park saw the wake-up, or the wake-up saw the park");
      });

      it("fans out to three children and resumes the parent after each", async () => {
        const parent = await start({ name: "parent" });
        const p = await claimOne({ names: ["parent"] });
        const kids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const r = await worker.startChildRun({
            ...lease(p),
            stepName: `kid#${i}`,
            seq: i,
            child: { type: "task", name: "kid", input: i },
          });
          kids.push(r.childRunId as string);
        }
        assert.equal(new Set(kids).size, 3);
        await worker.finishRuns({ items: [{ ...lease(p), outcome: "park", status: "waiting", wakeAt: null }] });
        const { runs } = await claim({ names: ["kid"], owner: "k" });
        assert.equal(runs.length, 3);
        for (const [i, c] of runs.entries()) {
          okWrite((await worker.finishRuns({ items: [{ ...lease(c), outcome: "complete", output: c.run.input }] }))[0]);
          const woken = await claimOne({ names: ["parent"] });
          assert.equal(woken.steps.filter((s) => s.status === "completed").length, i + 1);
          await worker.finishRuns({ items: [{ ...lease(woken), outcome: "park", status: "waiting", wakeAt: null }] });
        }
        const steps = await store.listSteps({ runId: parent.id });
        assert.deepEqual(
          steps.map((s) => [s.name, s.status, s.output]),
          [
            ["kid#0", "completed", 0],
            ["kid#1", "completed", 1],
            ["kid#2", "completed", 2],
          ],
        );
      });
    });

    // ── events ─────────────────────────────────────────────────────────────────────────────

    describe("events", () => {
      async function waiter(name: string) {
        await start({ name });
        return lease(await claimOne({ names: [name] }));
      }

      it("delivers an event sent before the wait, exactly once", async () => {
        const sent = await store.sendEvent({ namespace: NS, name: "go", payload: { v: 1 } });
        assert.equal(sent.deliveredTo, null);
        assert.ok(sent.eventId);
        const a = await waiter("a");
        const res = await worker.awaitEvent({ ...a, stepName: "e", seq: 0, eventName: "go" });
        okWrite(res);
        assert.deepEqual([res.step?.status, res.step?.output, res.step?.eventName], ["completed", { v: 1 }, "go"]);
        const replay = await worker.awaitEvent({ ...a, stepName: "e", seq: 0, eventName: "go" });
        assert.equal(replay.step?.status, "completed");
        const b = await waiter("b");
        const other = await worker.awaitEvent({ ...b, stepName: "e", seq: 0, eventName: "go" });
        assert.equal(other.step?.status, "waiting", "the event was consumed");
      });

      it("delivers an event sent after the wait and wakes the run", async () => {
        const a = await waiter("a");
        const res = await worker.awaitEvent({ ...a, stepName: "e", seq: 0, eventName: "go", timeoutAt: now + 60_000 });
        assert.deepEqual([res.step?.status, res.step?.wakeAt], ["waiting", now + 60_000]);
        await worker.finishRuns({ items: [{ ...a, outcome: "park", status: "waiting", wakeAt: now + 60_000 }] });
        now += 10;
        const sent = await store.sendEvent({ namespace: NS, name: "go", payload: "hi" });
        assert.equal(sent.deliveredTo, a.runId);
        const run = await get(a.runId);
        assert.deepEqual([run.status, run.availableAt], ["queued", now]);
        const [s] = await store.listSteps({ runId: a.runId });
        assert.deepEqual([s?.status, s?.output, s?.finishedAt], ["completed", "hi", now]);
        assert.equal((await store.sendEvent({ namespace: NS, name: "go" })).deliveredTo, null);
      });

      it("lists kept events newest first: delivered with their run, buffered until they expire", async () => {
        const a = await waiter("a");
        await worker.awaitEvent({ ...a, stepName: "e", seq: 0, eventName: "go" });
        const delivered = await store.sendEvent({ namespace: NS, name: "go", payload: { n: 1 } });
        const buffered = await store.sendEvent({ namespace: NS, name: "other", key: "k", retentionMs: 1000 });
        await store.sendEvent({ namespace: "elsewhere", name: "go" });
        const all = await store.listEvents({ namespace: NS });
        assert.deepEqual(
          all.events.map((e) => [e.id, e.name, e.key, e.deliveredTo]),
          [
            [buffered.eventId, "other", "k", null],
            [delivered.eventId, "go", null, a.runId],
          ],
        );
        assert.deepEqual([all.events[1]?.payload, all.events[1]?.deliveredAt, all.nextCursor], [{ n: 1 }, now, null]);
        const onlyBuffered = await store.listEvents({ namespace: NS, buffered: true });
        assert.deepEqual(
          onlyBuffered.events.map((e) => e.id),
          [buffered.eventId],
        );
        const first = await store.listEvents({ namespace: NS, limit: 1 });
        const second = await store.listEvents({ namespace: NS, limit: 1, cursor: first.nextCursor as string });
        assert.deepEqual(
          [...first.events, ...second.events].map((e) => e.id),
          [buffered.eventId, delivered.eventId],
        );
        assert.equal((await store.listEvents({ namespace: NS, name: "go" })).events.length, 1);
        now += 1000;
        assert.deepEqual(
          (await store.listEvents({ namespace: NS })).events.map((e) => e.id),
          [delivered.eventId],
          "an expired event is no longer listed",
        );
      });

      it("gives one event to the oldest of two waiters only", async () => {
        const a = await waiter("a");
        await worker.awaitEvent({ ...a, stepName: "e", seq: 0, eventName: "go" });
        now += 1;
        const b = await waiter("b");
        await worker.awaitEvent({ ...b, stepName: "e", seq: 0, eventName: "go" });
        assert.equal((await store.sendEvent({ namespace: NS, name: "go", payload: 1 })).deliveredTo, a.runId);
        assert.equal((await store.listSteps({ runId: b.runId }))[0]?.status, "waiting");
        assert.equal((await store.sendEvent({ namespace: NS, name: "go", payload: 2 })).deliveredTo, b.runId);
        assert.equal((await store.listSteps({ runId: b.runId }))[0]?.output, 2);
      });

      it("matches keys: a keyed waiter gets its key only, an unkeyed waiter gets any", async () => {
        const k1 = await waiter("k1");
        await worker.awaitEvent({ ...k1, stepName: "e", seq: 0, eventName: "order", key: "A" });
        assert.equal((await store.sendEvent({ namespace: NS, name: "order", key: "B" })).deliveredTo, null);
        assert.equal((await store.sendEvent({ namespace: NS, name: "order" })).deliveredTo, null);
        assert.equal(
          (await store.sendEvent({ namespace: NS, name: "order", key: "A", payload: "a" })).deliveredTo,
          k1.runId,
        );
        const any = await waiter("any");
        // Buffered B (oldest) goes to the unkeyed waiter.
        const got = await worker.awaitEvent({ ...any, stepName: "e", seq: 0, eventName: "order" });
        assert.equal(got.step?.status, "completed");
        const b = await waiter("b");
        const res = await worker.awaitEvent({ ...b, stepName: "e", seq: 0, eventName: "order", key: "B" });
        assert.equal(res.step?.status, "waiting", "B was consumed by the unkeyed waiter");
        const any2 = await waiter("any2");
        await worker.awaitEvent({ ...any2, stepName: "e", seq: 0, eventName: "order" });
        // The unkeyed buffered event went to nobody yet: the waiter consumed it.
        assert.equal((await store.listSteps({ runId: any2.runId }))[0]?.status, "completed");
        const sent = await store.sendEvent({ namespace: NS, name: "order", key: "B", payload: "b" });
        assert.equal(sent.deliveredTo, b.runId);
        assert.equal((await store.sendEvent({ namespace: "other", name: "order", key: "B" })).deliveredTo, null);
      });

      it("withdraws the waits of a run that ends", async () => {
        const a = await waiter("a");
        await worker.awaitEvent({ ...a, stepName: "e", seq: 0, eventName: "go" });
        await worker.finishRuns({ items: [{ ...a, outcome: "park", status: "waiting", wakeAt: null }] });
        await store.cancelRun({ namespace: NS, id: a.runId });
        const sent = await store.sendEvent({ namespace: NS, name: "go" });
        assert.equal(sent.deliveredTo, null, "buffered for a future waiter, not lost on a cancelled run");
      });

      it("pairs concurrent waits and sends one to one", async () => {
        const waiters = await Promise.all(["w0", "w1", "w2", "w3", "w4", "w5"].map((name) => start({ name })));
        const leases = (await claim({ limit: 10 })).runs.map(lease);
        assert.equal(leases.length, waiters.length);
        const [waits, sends] = await Promise.all([
          Promise.all(leases.map((l) => worker.awaitEvent({ ...l, stepName: "e", seq: 0, eventName: "race" }))),
          Promise.all(leases.map((_, i) => store.sendEvent({ namespace: NS, name: "race", payload: i }))),
        ]);
        waits.forEach(okWrite);
        const payloads: unknown[] = [];
        for (const l of leases) {
          const [s] = await store.listSteps({ runId: l.runId });
          assert.equal(s?.status, "completed", "every waiter got an event");
          payloads.push(s?.output);
        }
        assert.equal(new Set(payloads).size, leases.length, "no event was delivered twice");
        assert.equal(
          sends.filter((r) => r.deliveredTo !== null).length +
            waits.filter((w) => w.ok && w.step?.status === "completed").length,
          leases.length,
        );
      });

      it("drops buffered events after their retention", async () => {
        await store.sendEvent({ namespace: NS, name: "go", payload: 1, retentionMs: 1000 });
        now += 1000;
        const a = await waiter("a");
        const res = await worker.awaitEvent({ ...a, stepName: "e", seq: 0, eventName: "go" });
        assert.equal(res.step?.status, "waiting");
        const swept = await store.sweep();
        assert.equal(swept.eventsDeleted, 1);
      });

      it("wakes a waiter at its timeout; settling the step withdraws the wait", async () => {
        const a = await waiter("a");
        await worker.awaitEvent({ ...a, stepName: "e", seq: 0, eventName: "go", timeoutAt: now + 100 });
        await worker.finishRuns({ items: [{ ...a, outcome: "park", status: "waiting", wakeAt: now + 100 }] });
        now += 100;
        assert.equal((await store.sendEvent({ namespace: NS, name: "go", payload: "late" })).deliveredTo, null);
        const c = await claimOne({ names: ["a"] });
        assert.equal(c.steps[0]?.status, "waiting");
        const timeout = { code: "EVENT_TIMEOUT", message: "no event" };
        okWrite(
          (
            await worker.saveSteps({
              steps: [step(lease(c), "e", 0, { type: "event", status: "failed", error: timeout, output: undefined })],
            })
          )[0],
        );
        assert.equal((await store.sendEvent({ namespace: NS, name: "go", payload: "later" })).deliveredTo, null);
        const [s] = await store.listSteps({ runId: a.runId });
        assert.deepEqual([s?.status, s?.error], ["failed", timeout]);
      });
    });

    // ── cancel and retry ───────────────────────────────────────────────────────────────────

    describe("cancelRun / retryRun", () => {
      it("cancels a run nobody holds at once", async () => {
        const run = await start();
        const cancelled = await store.cancelRun({ namespace: NS, id: run.id, reason: "no longer needed" });
        assert.equal(cancelled.status, "cancelled");
        assert.equal(cancelled.finishedAt, now);
        assert.equal(cancelled.error?.code, "RUN_CANCELLED");
        assert.match(cancelled.error?.message ?? "", /no longer needed/);
        assert.equal((await claim()).runs.length, 0);
      });

      it("asks a leased run's worker to cancel", async () => {
        const run = await start();
        const c = await claimOne();
        const cancelling = await store.cancelRun({ namespace: NS, id: run.id });
        assert.deepEqual([cancelling.status, cancelling.leaseOwner], ["cancelling", "w1"]);
        const [w] = await worker.saveSteps({ steps: [step(lease(c), "s", 0)] });
        assert.deepEqual(w, { ok: true, cancelRequested: true });
        const ext = await worker.extendLeases({ owner: "w1", leaseMs: 1000, leases: [lease(c)] });
        assert.deepEqual(ext, { lost: [], cancelRequested: [run.id] });
        // Parking does not end a cancellation: the run stays claimable to finish cancelling.
        await worker.finishRuns({ items: [{ ...lease(c), outcome: "park", status: "sleeping", wakeAt: now + 9999 }] });
        const again = await claimOne();
        assert.equal(again.run.status, "cancelling");
        okWrite((await worker.finishRuns({ items: [{ ...lease(again), outcome: "cancelled" }] }))[0]);
        const done = await get(run.id);
        assert.deepEqual([done.status, done.error?.code], ["cancelled", "RUN_CANCELLED"]);
      });

      it("leaves a run with compensable completed steps claimable as cancelling", async () => {
        const run = await start();
        const c = await claimOne();
        await worker.saveSteps({ steps: [step(lease(c), "charge", 0, { compensable: true })] });
        await worker.finishRuns({ items: [{ ...lease(c), outcome: "park", status: "sleeping", wakeAt: now + 1000 }] });
        const cancelling = await store.cancelRun({ namespace: NS, id: run.id });
        assert.deepEqual([cancelling.status, cancelling.availableAt], ["cancelling", now]);
        const again = await claimOne();
        assert.equal(again.run.status, "compensating", "the claim starts the compensation");
      });

      it("cancels the descendants of a run", async () => {
        const parent = await start({ name: "parent" });
        const p = await claimOne({ names: ["parent"] });
        const a = await worker.startChildRun({
          ...lease(p),
          stepName: "a",
          seq: 0,
          child: { type: "workflow", name: "a" },
        });
        const b = await worker.startChildRun({
          ...lease(p),
          stepName: "b",
          seq: 1,
          child: { type: "task", name: "b" },
        });
        await worker.finishRuns({ items: [{ ...lease(p), outcome: "park", status: "waiting", wakeAt: null }] });
        const ca = await claimOne({ names: ["a"] });
        const g = await worker.startChildRun({
          ...lease(ca),
          stepName: "g",
          seq: 0,
          child: { type: "task", name: "g" },
        });
        const cb = await claimOne({ names: ["b"] });
        okWrite((await worker.finishRuns({ items: [{ ...lease(cb), outcome: "complete" }] }))[0]);
        const cancelled = await store.cancelRun({ namespace: NS, id: parent.id });
        assert.equal(cancelled.status, "cancelled");
        assert.equal((await get(a.childRunId as string)).status, "cancelling", "leased child asked to cancel");
        assert.equal((await get(g.childRunId as string)).status, "cancelled", "grandchild cancelled");
        assert.equal((await get(b.childRunId as string)).status, "completed", "finished child untouched");
        // The (leased) child's wait on its cancelled grandchild is closed, not failed.
        const aSteps = await store.listSteps({ runId: a.childRunId as string });
        assert.deepEqual([aSteps[0]?.status, aSteps[0]?.error], ["cancelled", null]);
        const pSteps = await store.listSteps({ runId: parent.id });
        assert.deepEqual(
          pSteps.map((s) => [s.name, s.status]),
          [
            ["a", "cancelled"],
            ["b", "completed"],
          ],
        );
      });

      it("refuses to cancel a finished run, or an unknown one", async () => {
        const run = await start();
        await store.cancelRun({ namespace: NS, id: run.id });
        await assert.rejects(store.cancelRun({ namespace: NS, id: run.id }), (e) =>
          hasCode(e, "INVALID_STATE_TRANSITION"),
        );
        await assert.rejects(store.cancelRun({ namespace: "other", id: run.id }), (e) => hasCode(e, "RUN_NOT_FOUND"));
      });

      it("retries a failed run as a new attempt, forgetting failed steps", async () => {
        const run = await start({ timeoutMs: 1000 });
        const c = await claimOne();
        await worker.saveSteps({
          steps: [
            step(lease(c), "a", 0),
            step(lease(c), "b", 1, { status: "failed", error: { code: "X", message: "x" } }),
          ],
        });
        await worker.finishRuns({
          items: [{ ...lease(c), outcome: "fail", error: { code: "WORKFLOW_FAILED", message: "b" } }],
        });
        now += 5000;
        const retried = await store.retryRun({ namespace: NS, id: run.id });
        assert.deepEqual(
          [retried.status, retried.attempt, retried.error, retried.finishedAt, retried.availableAt, retried.deadlineAt],
          ["queued", 2, null, null, now, now + 1000],
        );
        assert.deepEqual(
          (await store.listSteps({ runId: run.id })).map((s) => s.name),
          ["a"],
        );
        const again = await claimOne();
        assert.equal(again.run.id, run.id);
        okWrite((await worker.finishRuns({ items: [{ ...lease(again), outcome: "complete" }] }))[0]);
        await assert.rejects(store.retryRun({ namespace: NS, id: run.id }), (e) =>
          hasCode(e, "INVALID_STATE_TRANSITION"),
        );
      });

      it("retries from a step, forgetting it and every later one", async () => {
        const run = await start();
        const c = await claimOne();
        await worker.saveSteps({ steps: ["a", "b", "c"].map((n, i) => step(lease(c), n, i)) });
        await worker.finishRuns({ items: [{ ...lease(c), outcome: "cancelled" }] });
        await assert.rejects(store.retryRun({ namespace: NS, id: run.id, fromStep: "zz" }), (e) =>
          hasCode(e, "STEP_NOT_FOUND"),
        );
        const retried = await store.retryRun({ namespace: NS, id: run.id, fromStep: "b" });
        assert.equal(retried.status, "queued");
        assert.deepEqual(
          (await store.listSteps({ runId: run.id })).map((s) => s.name),
          ["a"],
        );
      });

      it("re-runs a failed child when its parent is retried, and reuses a completed one", async () => {
        const parent = await start({ name: "parent" });
        const p = await claimOne({ names: ["parent"] });
        const ok = await worker.startChildRun({
          ...lease(p),
          stepName: "ok",
          seq: 0,
          child: { type: "task", name: "k" },
        });
        const bad = await worker.startChildRun({
          ...lease(p),
          stepName: "bad",
          seq: 1,
          child: { type: "task", name: "k" },
        });
        await worker.finishRuns({ items: [{ ...lease(p), outcome: "park", status: "waiting", wakeAt: null }] });
        const kids = (await claim({ names: ["k"], owner: "k" })).runs;
        const byId = new Map(kids.map((c) => [c.run.id, c]));
        await worker.finishRuns({
          items: [
            { ...lease(byId.get(ok.childRunId as string) as ClaimedRun), outcome: "complete", output: "fine" },
            {
              ...lease(byId.get(bad.childRunId as string) as ClaimedRun),
              outcome: "fail",
              error: { code: "TASK_FAILED", message: "no" },
            },
          ],
        });
        const p2 = await claimOne({ names: ["parent"] });
        const childFailed = { code: "WORKFLOW_FAILED", message: "child failed" };
        await worker.finishRuns({ items: [{ ...lease(p2), outcome: "fail", error: childFailed }] });
        await store.retryRun({ namespace: NS, id: parent.id });
        const p3 = await claimOne({ names: ["parent"] });
        assert.deepEqual(
          p3.steps.map((s) => [s.name, s.status]),
          [["ok", "completed"]],
          "the failed child step is forgotten",
        );
        const again = await worker.startChildRun({
          ...lease(p3),
          stepName: "bad",
          seq: 1,
          child: { type: "task", name: "k" },
        });
        assert.equal(again.childRunId, bad.childRunId, "the same child, by its idempotency key");
        const child = await get(bad.childRunId as string);
        assert.deepEqual([child.status, child.attempt, child.error], ["queued", 2, null]);
        const [, step] = await store.listSteps({ runId: parent.id });
        assert.equal(step?.status, "waiting");
      });

      it("refuses to retry a live run", async () => {
        const run = await start();
        await assert.rejects(store.retryRun({ namespace: NS, id: run.id }), (e) =>
          hasCode(e, "INVALID_STATE_TRANSITION"),
        );
      });
    });

    // ── saga ───────────────────────────────────────────────────────────────────────────────

    describe("saga (compensation)", () => {
      /** A run with compensable steps a (seq 0) and b (seq 1), plain step n, then parked on a wait. */
      const parkedSaga = async (p: Partial<StartRunParams> = {}) => {
        const run = await start(p);
        const c = await claimOne();
        await worker.saveSteps({
          steps: [
            step(lease(c), "a", 0, { compensable: true }),
            step(lease(c), "b", 1, { compensable: true }),
            step(lease(c), "n", 2),
          ],
        });
        const wait = await worker.awaitEvent({ ...lease(c), stepName: "e", seq: 3, eventName: "go" });
        assert.equal(wait.step?.status, "waiting");
        await worker.finishRuns({ items: [{ ...lease(c), outcome: "park", status: "waiting", wakeAt: null }] });
        return run;
      };

      /** The worker's part: compensations in reverse order, each marking its step compensated. */
      const compensate = async (c: ClaimedRun) => {
        const comp = (name: string, seq: number) =>
          step(lease(c), `compensate:${name}`, 1_999_999 - seq, {
            type: "compensation",
            output: null,
            compensates: name,
          });
        for (const w of await worker.saveSteps({ steps: [comp("b", 1)] })) okWrite(w);
        for (const w of await worker.saveSteps({ steps: [comp("a", 0)] })) okWrite(w);
        okWrite((await worker.finishRuns({ items: [{ ...lease(c), outcome: "compensated" }] }))[0]);
      };

      const statuses = async (id: string) =>
        (await store.listSteps({ runId: id })).map((s) => [s.name, s.status] as [string, string]);

      it("cancel: cancelling → compensating → compensated; steps compensated, waits cancelled", async () => {
        const run = await parkedSaga();
        const cancelling = await store.cancelRun({ namespace: NS, id: run.id, reason: "customer left" });
        assert.equal(cancelling.status, "cancelling");
        assert.deepEqual(await statuses(run.id), [
          ["a", "completed"],
          ["b", "completed"],
          ["n", "completed"],
          ["e", "cancelled"],
        ]);
        assert.equal(
          (await store.sendEvent({ namespace: NS, name: "go" })).deliveredTo,
          null,
          "a closed wait takes no event",
        );
        const c = await claimOne();
        assert.equal(c.run.status, "compensating");
        assert.equal((await get(run.id)).status, "compensating");
        await compensate(c);
        const done = await get(run.id);
        assert.deepEqual([done.status, done.error?.code], ["compensated", "RUN_CANCELLED"]);
        assert.match(done.error?.message ?? "", /customer left/);
        assert.deepEqual(
          await statuses(run.id),
          [
            ["a", "compensated"],
            ["b", "compensated"],
            ["n", "completed"],
            ["e", "cancelled"],
            ["compensate:b", "completed"],
            ["compensate:a", "completed"],
          ],
          "listed in execution order: compensations in the order they ran",
        );
      });

      it("a cancel of a leased run closes its waits and compensates after the worker lets go", async () => {
        const run = await start();
        const c = await claimOne();
        await worker.saveSteps({ steps: [step(lease(c), "a", 0, { compensable: true })] });
        await worker.startChildRun({ ...lease(c), stepName: "kid", seq: 1, child: { type: "workflow", name: "kid" } });
        await worker.awaitEvent({ ...lease(c), stepName: "e", seq: 2, eventName: "go" });
        assert.equal((await store.cancelRun({ namespace: NS, id: run.id })).status, "cancelling");
        // The worker may be settling the event wait itself: it stays open until the run is given back.
        assert.deepEqual(await statuses(run.id), [
          ["a", "completed"],
          ["kid", "cancelled"],
          ["e", "waiting"],
        ]);
        okWrite((await worker.finishRuns({ items: [{ ...lease(c), outcome: "release" }] }))[0]);
        assert.equal((await statuses(run.id))[2]?.[1], "cancelled");
        assert.equal((await store.sendEvent({ namespace: NS, name: "go" })).deliveredTo, null);
        const again = await claimOne({ names: ["wf"] });
        assert.equal(again.run.status, "compensating");
      });

      it("a cancel with nothing to compensate still ends cancelled, its waits closed", async () => {
        const run = await start();
        const c = await claimOne();
        await worker.saveSteps({
          steps: [step(lease(c), "nap", 0, { type: "sleep", status: "waiting", wakeAt: now + 9 })],
        });
        await worker.finishRuns({ items: [{ ...lease(c), outcome: "park", status: "sleeping", wakeAt: now + 9 }] });
        assert.equal((await store.cancelRun({ namespace: NS, id: run.id })).status, "cancelled");
        assert.deepEqual(await statuses(run.id), [["nap", "cancelled"]]);
      });

      it("a compensation refused by the fence marks nothing", async () => {
        const run = await parkedSaga();
        await store.cancelRun({ namespace: NS, id: run.id });
        const c = await claimOne();
        const [w] = await worker.saveSteps({
          steps: [
            {
              ...step(lease(c), "compensate:b", 1_999_998, { type: "compensation", compensates: "b" }),
              leaseToken: c.run.leaseToken - 1,
            },
          ],
        });
        assert.equal(errorCode(w), "LEASE_LOST");
        assert.equal((await statuses(run.id))[1]?.[1], "completed");
        // A failed compensation leaves its step completed (it was not undone).
        okWrite(
          (
            await worker.saveSteps({
              steps: [
                step(lease(c), "compensate:b", 1_999_998, {
                  type: "compensation",
                  status: "failed",
                  error: { code: "COMPENSATION_FAILED", message: "no" },
                  compensates: "b",
                }),
              ],
            })
          )[0],
        );
        assert.equal((await statuses(run.id))[1]?.[1], "completed");
      });

      it("a timeout (sweep) compensates: compensating, then compensated with RUN_TIMEOUT", async () => {
        const run = await parkedSaga({ timeoutMs: 2000 });
        now += 2000;
        assert.equal((await store.sweep()).timedOut, 1);
        const compensating = await get(run.id);
        assert.deepEqual(
          [compensating.status, compensating.error?.code, compensating.leaseOwner, compensating.finishedAt],
          ["compensating", "RUN_TIMEOUT", null, null],
        );
        assert.equal((await statuses(run.id))[3]?.[1], "cancelled", "the wait is closed");
        now += 60_000;
        assert.equal((await store.sweep()).timedOut, 0, "a compensating run is not timed out again");
        const c = await claimOne();
        assert.equal(c.run.status, "compensating");
        await compensate(c);
        const done = await get(run.id);
        assert.deepEqual([done.status, done.error?.code], ["compensated", "RUN_TIMEOUT"]);
      });

      it("a timeout reported by the worker compensates too; without compensations it is timed_out", async () => {
        const timeout = { code: "RUN_TIMEOUT", message: "too slow" };
        const run = await start({ timeoutMs: 1000 });
        const c = await claimOne();
        await worker.saveSteps({ steps: [step(lease(c), "a", 0, { compensable: true })] });
        okWrite((await worker.finishRuns({ items: [{ ...lease(c), outcome: "timed_out", error: timeout }] }))[0]);
        const compensating = await get(run.id);
        assert.deepEqual([compensating.status, compensating.error], ["compensating", timeout]);
        const again = await claimOne();
        assert.equal(again.run.id, run.id);

        const plain = await start({ name: "plain", timeoutMs: 1000 });
        const p = await claimOne({ names: ["plain"] });
        await worker.saveSteps({ steps: [step(lease(p), "x", 0)] });
        okWrite((await worker.finishRuns({ items: [{ ...lease(p), outcome: "timed_out", error: timeout }] }))[0]);
        assert.equal((await get(plain.id)).status, "timed_out");
      });

      it("a retry of a compensated run forgets what the saga undid, so it runs again", async () => {
        const run = await parkedSaga({ timeoutMs: 5000 });
        await store.cancelRun({ namespace: NS, id: run.id });
        await compensate(await claimOne());
        const retried = await store.retryRun({ namespace: NS, id: run.id });
        assert.deepEqual([retried.status, retried.attempt], ["queued", 2]);
        assert.deepEqual(await statuses(run.id), [["n", "completed"]]);
        const c = await claimOne();
        assert.equal(c.run.status, "running");
        assert.deepEqual(
          c.steps.map((s) => s.name),
          ["n"],
        );
      });

      it("a retry from a step also forgets compensated steps before it", async () => {
        const run = await parkedSaga();
        await store.cancelRun({ namespace: NS, id: run.id });
        await compensate(await claimOne());
        await store.retryRun({ namespace: NS, id: run.id, fromStep: "e" });
        assert.deepEqual(await statuses(run.id), [["n", "completed"]]);
      });
    });

    // ── housekeeping ───────────────────────────────────────────────────────────────────────

    describe("sweep", () => {
      it("times out runs past their deadline that nobody holds", async () => {
        const queued = await start({ timeoutMs: 1000 });
        const held = await start({ timeoutMs: 1000 });
        const free = await start();
        const c = await claimOne({ names: ["wf"], limit: 1 });
        assert.equal(c.run.id, queued.id);
        const h = await claimOne({ leaseMs: 5000 });
        assert.equal(h.run.id, held.id);
        await worker.finishRuns({ items: [{ ...lease(c), outcome: "park", status: "sleeping", wakeAt: now + 9000 }] });
        assert.deepEqual(await store.sweep(), { timedOut: 0, woken: 0, eventsDeleted: 0 });
        now += 1000;
        const swept = await store.sweep();
        assert.equal(swept.timedOut, 1, "the parked run times out; the held one keeps its live lease");
        const t = await get(queued.id);
        assert.deepEqual(
          [t.status, t.error?.code, t.finishedAt, t.availableAt],
          ["timed_out", "RUN_TIMEOUT", now, null],
        );
        assert.equal((await get(held.id)).status, "running");
        now += 4000;
        assert.equal((await store.sweep()).timedOut, 1, "an expired lease past the deadline times out too");
        assert.equal((await get(held.id)).status, "timed_out");
        assert.equal((await get(free.id)).status, "queued");
      });

      it("settles the parent of a timed-out child and cancels the children of a timed-out run", async () => {
        const parent = await start({ name: "parent", timeoutMs: 10_000 });
        const p = await claimOne({ names: ["parent"] });
        const kid = await worker.startChildRun({
          ...lease(p),
          stepName: "kid",
          seq: 0,
          child: { type: "workflow", name: "kid", timeoutMs: 100 },
        });
        await worker.finishRuns({ items: [{ ...lease(p), outcome: "park", status: "waiting", wakeAt: null }] });
        now += 100;
        assert.equal((await store.sweep()).timedOut, 1);
        const [s] = await store.listSteps({ runId: parent.id });
        assert.equal(s?.error?.code, "CHILD_FAILED");
        assert.equal((s?.error?.data as { status?: string } | undefined)?.status, "timed_out");
        assert.equal((await get(parent.id)).status, "queued");

        const p2 = await claimOne({ names: ["parent"] });
        const kid2 = await worker.startChildRun({
          ...lease(p2),
          stepName: "kid2",
          seq: 1,
          child: { type: "workflow", name: "kid2" },
        });
        await worker.finishRuns({ items: [{ ...lease(p2), outcome: "park", status: "waiting", wakeAt: null }] });
        now = T0 + 10_000;
        assert.equal((await store.sweep()).timedOut, 1);
        assert.equal((await get(parent.id)).status, "timed_out");
        assert.equal((await get(kid2.childRunId as string)).status, "cancelled");
        assert.equal((await get(kid.childRunId as string)).status, "timed_out");
      });

      it("wakes parked runs whose timer is due", async () => {
        const run = await start();
        const c = await claimOne();
        await worker.finishRuns({ items: [{ ...lease(c), outcome: "park", status: "sleeping", wakeAt: now + 50 }] });
        assert.equal((await store.sweep()).woken, 0);
        now += 50;
        assert.equal((await store.sweep()).woken, 1);
        const after = await get(run.id);
        assert.deepEqual([after.status, after.availableAt], ["queued", now]);
      });
    });

    // ── logs and notifications ─────────────────────────────────────────────────────────────

    describe("logs", () => {
      it("appends lines and lists them in order after a seq", async () => {
        const run = await start();
        const other = await start();
        // A worker writes lines under the lease it holds (the worker protocol refuses others).
        const token = new Map((await claim()).runs.map((c) => [c.run.id, c.run.leaseToken]));
        const leased = (runId: string) => ({ runId, leaseToken: token.get(runId) as number });
        await worker.appendLogs({
          entries: [
            { ...leased(run.id), attempt: 1, level: "info", message: "one" },
            { ...leased(other.id), attempt: 1, level: "info", message: "elsewhere" },
            { ...leased(run.id), attempt: 1, stepName: "s", level: "error", message: "two", ts: 5 },
          ],
        });
        await worker.appendLogs({ entries: [{ ...leased(run.id), attempt: 2, level: "debug", message: "three" }] });
        const all = await store.listLogs({ runId: run.id });
        assert.deepEqual(
          all.map((l) => [l.message, l.attempt, l.stepName, l.level, l.ts]),
          [
            ["one", 1, null, "info", T0],
            ["two", 1, "s", "error", 5],
            ["three", 2, null, "debug", T0],
          ],
        );
        assert.ok((all[0]?.seq ?? 0) < (all[1]?.seq ?? 0) && (all[1]?.seq ?? 0) < (all[2]?.seq ?? 0));
        const after = await store.listLogs({ runId: run.id, afterSeq: all[0]?.seq as number, limit: 1 });
        assert.deepEqual(
          after.map((l) => l.message),
          ["two"],
        );
      });
    });

    describe("NUL in free text", () => {
      // PostgreSQL cannot store U+0000; both stores replace it with U+FFFD, so that behaviour is
      // the same everywhere and one stray byte never fails a batch.
      it("replaces NUL with U+FFFD in log lines without failing the rest of the batch", async () => {
        const run = await start();
        const other = await start();
        // The store's own encoding: the HTTP edge refuses a NUL in a step name before it gets here.
        await store.appendLogs({
          entries: [
            { runId: other.id, attempt: 1, level: "info", message: "before" },
            { runId: run.id, attempt: 1, stepName: "s\u0000t", level: "info", message: "a\u0000b\u0000" },
            { runId: other.id, attempt: 1, level: "info", message: "after" },
          ],
        });
        const lines = await store.listLogs({ runId: run.id });
        assert.deepEqual(
          lines.map((l) => [l.message, l.stepName]),
          [["a\ufffdb\ufffd", "s\ufffdt"]],
        );
        assert.deepEqual(
          (await store.listLogs({ runId: other.id })).map((l) => l.message),
          ["before", "after"],
        );
      });

      it("replaces NUL with U+FFFD in inputs, outputs and errors, keeping an escaped backslash-u0000", async () => {
        const run = await start({ type: "task", name: "t", input: { text: "in\u0000put" } });
        assert.deepEqual((await get(run.id)).input, { text: "in\ufffdput" });
        const failing = await start({ type: "task", name: "t" });
        const [a, b] = (await claim()).runs.map(lease) as [Lease, Lease];
        const byId = new Map([
          [a.runId, a],
          [b.runId, b],
        ]);
        const ok = byId.get(run.id) as Lease;
        const bad = byId.get(failing.id) as Lease;
        const results = await worker.finishRuns({
          items: [
            { ...ok, outcome: "complete", output: { "k\u0000": ["x\u0000y", "\\u0000"] } },
            { ...bad, outcome: "fail", error: { code: "TASK_FAILED", message: "exit\u0000 1" } },
          ],
        });
        for (const r of results) okWrite(r);
        assert.deepEqual((await get(run.id)).output, { "k\ufffd": ["x\ufffdy", "\\u0000"] });
        assert.equal((await get(failing.id)).error?.message, "exit\ufffd 1");
      });
    });

    describe("close", () => {
      it("fails with STORE_UNAVAILABLE once closed", async () => {
        const other = await openOther({ clock });
        await other.close();
        await assert.rejects(other.getRun({ namespace: NS, id: "x" }), (e) => hasCode(e, "STORE_UNAVAILABLE"));
        await assert.rejects(other.startRun({ namespace: NS, type: "task", name: "t" }), (e) =>
          hasCode(e, "STORE_UNAVAILABLE"),
        );
      });
    });

    describe("subscribe", () => {
      it("notifies runs-ready when a run becomes claimable", async () => {
        const listenerStore = harness.openSibling ? await harness.openSibling(store) : store;
        const seen: StoreNotification[] = [];
        let notify: () => void = () => {};
        const arrived = new Promise<void>((resolve) => {
          notify = resolve;
        });
        const unsubscribe = await listenerStore.subscribe((n) => {
          if (n.namespace !== NS) return;
          seen.push(n);
          notify();
        });
        try {
          await start({ queue: "hot" });
          await Promise.race([
            arrived,
            new Promise((_, reject) => setTimeout(() => reject(new Error("no notification within 5s")), 5000)),
          ]);
          assert.deepEqual(seen[0], { type: "runs-ready", namespace: NS, queue: "hot" });
        } finally {
          await unsubscribe();
        }
        const before = seen.length;
        await start({ queue: "hot" });
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(seen.length, before, "no notification after unsubscribe");
      });
    });
  });
}
