import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import { openTestSqlite, type TestStore } from "../../tests/support/test-db.ts";
import { SecretVault } from "../secrets/vault.ts";
import { DEFAULT_WEBHOOK_DELIVERY, WebhookDispatcher, webhookBackoffMs } from "./webhook-dispatcher.ts";

const SECRET = `whsec_${Buffer.from("dispatcher test key, 32 bytes..").toString("base64")}`;

describe("webhook backoff", () => {
  it("doubles from the initial wait and stops at the cap", () => {
    const s = { ...DEFAULT_WEBHOOK_DELIVERY, initialBackoffMs: 1000, maxBackoffMs: 5000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((a) => webhookBackoffMs(s, a)),
      [1000, 2000, 4000, 5000, 5000],
    );
  });
});

describe("WebhookDispatcher", () => {
  let db: TestStore;
  let dataDir: string;
  let receiver: Server;
  let url: string;
  let now = 10_000_000;
  let answer = 500;
  const got: { headers: IncomingHttpHeaders; body: string }[] = [];

  before(async () => {
    db = await openTestSqlite({ clock: () => now });
    dataDir = mkdtempSync(join(tmpdir(), "kiln-dispatch-"));
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        got.push({ headers: req.headers, body });
        res.statusCode = answer;
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/in`;
  });
  after(async () => {
    receiver.close();
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("signs each attempt, backs off after failures and gives up after the limit", async () => {
    const store = db.store;
    const vault = SecretVault.open(store, { dataDir });
    await vault.set({ namespace: "ns", name: "HOOK", value: SECRET });
    await store.webhooks.createWebhookSubscription({
      namespace: "ns",
      url,
      events: ["run.completed"],
      workflow: null,
      runId: null,
      secretName: "HOOK",
    });
    const { run } = await store.startRun({ namespace: "ns", type: "task", name: "t" });
    const { runs } = await store.claimRuns({
      namespace: "ns",
      queues: ["default"],
      owner: "w",
      limit: 1,
      leaseMs: 1000,
    });
    await store.finishRuns({
      items: [{ runId: run.id, leaseToken: runs[0]?.run.leaseToken ?? 0, outcome: "complete", output: 7 }],
    });
    const dispatcher = new WebhookDispatcher({
      store,
      vault,
      clock: () => now,
      settings: { initialBackoffMs: 1000, maxBackoffMs: 2000, giveUpAfterMs: 4000 },
    });
    assert.equal(await dispatcher.tick(), 1);
    assert.equal(await dispatcher.tick(), 0, "not due before its backoff");
    now += 1000;
    assert.equal(await dispatcher.tick(), 1);
    now += 2000;
    // Attempt 3 fails; its retry would fall after the give-up time (run end + 4 s): failed for good.
    assert.equal(await dispatcher.tick(), 1);
    now += 10_000;
    assert.equal(await dispatcher.tick(), 0);
    const [d] = await store.webhooks.listWebhookDeliveries({ namespace: "ns" });
    assert.equal(d?.status, "failed");
    assert.equal(d?.attempts, 3);
    assert.equal(d?.lastResponseCode, 500);
    assert.equal(got.length, 3);
    for (const g of got) {
      const payload = new Webhook(SECRET).verify(g.body, g.headers as Record<string, string>) as {
        type: string;
        data: { runId: string; output: unknown };
      };
      assert.equal(payload.type, "run.completed");
      assert.equal(payload.data.runId, run.id);
      assert.equal(payload.data.output, 7);
    }
    assert.equal(new Set(got.map((g) => g.headers["webhook-id"])).size, 1, "one message id for every attempt");
    // A redelivery after the receiver is fixed succeeds.
    answer = 204;
    await store.webhooks.redeliverWebhook({ namespace: "ns", id: d?.id ?? "" });
    assert.equal(await dispatcher.tick(), 1);
    const after = await store.webhooks.getWebhookDelivery({ namespace: "ns", id: d?.id ?? "" });
    assert.equal(after?.status, "delivered");
    assert.deepEqual(
      after?.attemptLog.map((a) => a.responseCode),
      [500, 500, 500, 204],
    );
  });
});
