// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import type { StoreHarness } from "./store.contract.ts";
import type { Store } from "./store.ts";

const NS = "hooks";
const T0 = 7_000_000;

/** The webhook contract (endpoints, subscriptions, the delivery outbox) for every store. */
export function webhooksContract(name: string, harness: StoreHarness): void {
  describe(`Webhook store contract: ${name}`, { skip: harness.skip ?? false }, () => {
    let now = T0;
    let store: Store;
    const clock = () => now;
    const extra: Store[] = [];

    beforeEach(async () => {
      now = T0;
      store = await harness.open({ clock });
    });
    afterEach(async () => {
      for (const s of extra.splice(0)) await harness.close(s);
      await harness.close(store);
    });

    const subscribe = (p: { events?: string[]; workflow?: string | null; runId?: string | null } = {}) =>
      store.webhooks.createWebhookSubscription({
        namespace: NS,
        url: "http://127.0.0.1:9/hook",
        events: (p.events ?? ["run.completed", "run.failed"]) as never,
        workflow: p.workflow ?? null,
        runId: p.runId ?? null,
        secretName: "HOOK_SECRET",
      });

    /** Starts, claims and ends a run the way a worker does. */
    async function endRun(name: string, outcome: "complete" | "fail"): Promise<string> {
      const { run } = await store.startRun({ namespace: NS, type: "workflow", name, input: { n: 1 } });
      const { runs } = await store.claimRuns({
        namespace: NS,
        queues: ["default"],
        owner: "w",
        limit: 1,
        leaseMs: 30_000,
      });
      const claimed = runs[0];
      assert.ok(claimed);
      const lease = { runId: run.id, leaseToken: claimed.run.leaseToken };
      const [result] = await store.finishRuns({
        items: [
          outcome === "complete"
            ? { ...lease, outcome: "complete", output: { ok: true } }
            : { ...lease, outcome: "fail", error: { code: "TASK_FAILED", message: "boom" } },
        ],
      });
      assert.equal(result?.ok, true);
      return run.id;
    }

    describe("endpoints", () => {
      it("creates, replaces, lists and deletes incoming endpoints", async () => {
        const first = await store.webhooks.putWebhookEndpoint({
          namespace: NS,
          name: "github",
          workflow: "deploy",
          runType: "workflow",
          secretName: "GH_SECRET",
          scheme: "github",
          inputMap: { ref: "${body.ref}" },
          source: "api",
        });
        assert.equal(first.created, true);
        assert.deepEqual(first.endpoint.inputMap, { ref: "${body.ref}" });
        now += 5;
        const again = await store.webhooks.putWebhookEndpoint({
          ...first.endpoint,
          workflow: "deploy2",
          inputMap: null,
        });
        assert.equal(again.created, false);
        assert.equal(again.endpoint.workflow, "deploy2");
        assert.equal(again.endpoint.createdAt, T0);
        assert.equal(again.endpoint.updatedAt, T0 + 5);
        assert.equal(again.endpoint.inputMap, null);
        assert.deepEqual(
          (await store.webhooks.listWebhookEndpoints({ namespace: NS })).map((e) => e.name),
          ["github"],
        );
        assert.deepEqual(await store.webhooks.listWebhookEndpoints({ namespace: "other" }), []);
        assert.equal(await store.webhooks.deleteWebhookEndpoint({ namespace: NS, name: "github" }), true);
        assert.equal(await store.webhooks.deleteWebhookEndpoint({ namespace: NS, name: "github" }), false);
        assert.equal(await store.webhooks.getWebhookEndpoint({ namespace: NS, name: "github" }), undefined);
      });
    });

    describe("outbox", () => {
      it("writes one delivery per matching subscription with the run's outcome", async () => {
        const all = await subscribe();
        const onlyDeploy = await subscribe({ workflow: "deploy" });
        const onlyFailed = await subscribe({ events: ["run.failed"] });
        await store.webhooks.createWebhookSubscription({
          namespace: "other",
          url: "http://127.0.0.1:9/x",
          events: ["run.completed"],
          workflow: null,
          runId: null,
          secretName: "S",
        });
        const done = await endRun("build", "complete");
        const deliveries = await store.webhooks.listWebhookDeliveries({ namespace: NS, runId: done });
        assert.deepEqual(
          deliveries.map((d) => [d.subscriptionId, d.event, d.status, d.attempts]),
          [[all.id, "run.completed", "pending", 0]],
        );
        now += 10;
        const failed = await endRun("deploy", "fail");
        const onFail = await store.webhooks.listWebhookDeliveries({ namespace: NS, runId: failed });
        assert.deepEqual(new Set(onFail.map((d) => d.subscriptionId)), new Set([all.id, onlyDeploy.id, onlyFailed.id]));
        assert.ok(onFail.every((d) => d.event === "run.failed"));
        assert.deepEqual(await store.webhooks.listWebhookDeliveries({ namespace: "other" }), []);
        assert.equal((await store.webhooks.listWebhookDeliveries({ namespace: NS, subscriptionId: all.id })).length, 2);
      });

      it("reports a cancelled run and a run's own callback subscription", async () => {
        const { run } = await store.startRun({ namespace: NS, type: "workflow", name: "wf" });
        const { run: other } = await store.startRun({ namespace: NS, type: "workflow", name: "wf" });
        const callback = await subscribe({ events: ["run.cancelled", "run.completed"], runId: run.id });
        await store.cancelRun({ namespace: NS, id: other.id });
        assert.deepEqual(await store.webhooks.listWebhookDeliveries({ namespace: NS }), []);
        await store.cancelRun({ namespace: NS, id: run.id });
        const [d] = await store.webhooks.listWebhookDeliveries({ namespace: NS });
        assert.equal(d?.subscriptionId, callback.id);
        assert.equal(d?.event, "run.cancelled");
      });

      it("writes nothing when no subscription wants the outcome", async () => {
        await subscribe({ events: ["run.failed"] });
        const id = await endRun("wf", "complete");
        assert.deepEqual(await store.webhooks.listWebhookDeliveries({ namespace: NS, runId: id }), []);
      });
      it("reports nothing for a stale completion of a run that ended earlier", async () => {
        const { run } = await store.startRun({ namespace: NS, type: "workflow", name: "wf" });
        const { runs } = await store.claimRuns({
          namespace: NS,
          queues: ["default"],
          owner: "w",
          limit: 1,
          leaseMs: 1,
        });
        const stale = { runId: run.id, leaseToken: runs[0]?.run.leaseToken ?? 0 };
        // The lease expires; another worker takes the run over and completes it.
        now += 10;
        const { runs: again } = await store.claimRuns({
          namespace: NS,
          queues: ["default"],
          owner: "w2",
          limit: 1,
          leaseMs: 30_000,
        });
        const fresh = { runId: run.id, leaseToken: again[0]?.run.leaseToken ?? 0 };
        assert.equal((await store.finishRuns({ items: [{ ...fresh, outcome: "complete", output: 1 }] }))[0]?.ok, true);
        await subscribe();
        now += 10;
        // The first worker's late completion is fenced off, and reports nothing either.
        const [late] = await store.finishRuns({ items: [{ ...stale, outcome: "complete", output: 2 }] });
        assert.equal(late?.ok, false);
        assert.deepEqual(await store.webhooks.listWebhookDeliveries({ namespace: NS }), []);
      });
    });

    describe("delivery", () => {
      it("claims due deliveries once, retries after a failure, logs every attempt, redelivers", async () => {
        const sub = await subscribe();
        const runId = await endRun("wf", "complete");
        const [claimed] = await store.webhooks.claimWebhookDeliveries({ limit: 10, leaseMs: 60_000 });
        assert.ok(claimed);
        assert.equal(claimed.attempts, 1);
        assert.equal(claimed.url, "http://127.0.0.1:9/hook");
        assert.equal(claimed.secretName, "HOOK_SECRET");
        assert.deepEqual(claimed.run, {
          name: "wf",
          type: "workflow",
          status: "completed",
          output: { ok: true },
          error: null,
          finishedAt: T0,
        });
        // Hidden while claimed.
        assert.deepEqual(await store.webhooks.claimWebhookDeliveries({ limit: 10, leaseMs: 60_000 }), []);
        assert.equal(
          await store.webhooks.recordWebhookAttempt({
            id: claimed.id,
            attempt: 1,
            ok: false,
            responseCode: 500,
            latencyMs: 12,
            error: "HTTP 500",
            retryAt: now + 1000,
          }),
          true,
        );
        assert.deepEqual(await store.webhooks.claimWebhookDeliveries({ limit: 10, leaseMs: 60_000 }), []);
        now += 1000;
        const [second] = await store.webhooks.claimWebhookDeliveries({ limit: 10, leaseMs: 60_000 });
        assert.equal(second?.attempts, 2);
        // A late result of the first attempt is refused: the second one owns the delivery now.
        assert.equal(
          await store.webhooks.recordWebhookAttempt({
            id: claimed.id,
            attempt: 1,
            ok: true,
            responseCode: 200,
            latencyMs: 1,
          }),
          false,
        );
        assert.equal(
          await store.webhooks.recordWebhookAttempt({
            id: claimed.id,
            attempt: 2,
            ok: true,
            responseCode: 204,
            latencyMs: 3,
          }),
          true,
        );
        const detail = await store.webhooks.getWebhookDelivery({ namespace: NS, id: claimed.id });
        assert.equal(detail?.status, "delivered");
        assert.equal(detail?.subscriptionId, sub.id);
        assert.equal(detail?.runId, runId);
        assert.deepEqual(
          detail?.attemptLog.map((a) => [a.attempt, a.ok, a.responseCode, a.latencyMs, a.error]),
          [
            [1, false, 500, 12, "HTTP 500"],
            [2, true, 204, 3, null],
          ],
        );
        const again = await store.webhooks.redeliverWebhook({ namespace: NS, id: claimed.id });
        assert.equal(again.status, "pending");
        const [third] = await store.webhooks.claimWebhookDeliveries({ limit: 10, leaseMs: 60_000 });
        assert.equal(third?.attempts, 3);
        await assert.rejects(store.webhooks.redeliverWebhook({ namespace: "other", id: claimed.id }), (e) =>
          hasCode(e, "WEBHOOK_DELIVERY_NOT_FOUND"),
        );
      });

      it("fails a delivery for good without a retry time, and takes it back from a claimer that died", async () => {
        await subscribe();
        await endRun("wf", "complete");
        const [first] = await store.webhooks.claimWebhookDeliveries({ limit: 1, leaseMs: 5_000 });
        assert.ok(first);
        // The claimer died: after its lease the delivery is due again, as attempt 2.
        now += 5_000;
        const [retaken] = await store.webhooks.claimWebhookDeliveries({ limit: 1, leaseMs: 5_000 });
        assert.equal(retaken?.id, first.id);
        assert.equal(retaken?.attempts, 2);
        await store.webhooks.recordWebhookAttempt({
          id: first.id,
          attempt: 2,
          ok: false,
          responseCode: null,
          latencyMs: 1,
          error: "connection refused",
        });
        const [d] = await store.webhooks.listWebhookDeliveries({ namespace: NS });
        assert.equal(d?.status, "failed");
        assert.equal(d?.nextAttemptAt, null);
        assert.equal(d?.lastError, "connection refused");
      });

      it("deleting a subscription fails its pending deliveries", async () => {
        const sub = await subscribe();
        await endRun("wf", "complete");
        assert.equal(await store.webhooks.deleteWebhookSubscription({ namespace: "other", id: sub.id }), false);
        assert.equal(await store.webhooks.deleteWebhookSubscription({ namespace: NS, id: sub.id }), true);
        assert.deepEqual(await store.webhooks.listWebhookSubscriptions({ namespace: NS }), []);
        const [d] = await store.webhooks.listWebhookDeliveries({ namespace: NS });
        assert.equal(d?.status, "failed");
        assert.deepEqual(await store.webhooks.claimWebhookDeliveries({ limit: 10, leaseMs: 1000 }), []);
      });

      it("two stores on one database never claim the same delivery", async () => {
        await subscribe();
        for (let i = 0; i < 20; i++) await endRun(`wf${i}`, "complete");
        // A second server's store (closed with the first one's data).
        const sibling = harness.openSibling ? await harness.openSibling(store) : store;
        const seen: string[] = [];
        const grab = async (s: Store) => {
          for (;;) {
            const got = await s.webhooks.claimWebhookDeliveries({ limit: 3, leaseMs: 60_000 });
            if (got.length === 0) return;
            seen.push(...got.map((d) => d.id));
          }
        };
        await Promise.all([grab(store), grab(sibling), grab(store), grab(sibling)]);
        assert.equal(seen.length, 20);
        assert.equal(new Set(seen).size, 20);
      });
    });
  });
}
