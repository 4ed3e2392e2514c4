import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { loadConfig } from "../../config/load-config.ts";
import { createFlowDeps, type OwnedFlowDeps } from "../run/flow-deps.ts";
import { validateFlowFile } from "../run/flow-runtime.ts";
import { describeOnStores, json, startHttpServer, type TestServer } from "../../../tests/support/flow-helpers.ts";

/** Runs the flows under examples/flows/ with their config (plugins) against a local fake API. */

const dir = join(import.meta.dirname, "../../../examples/flows");
const example = (name: string) => readFileSync(join(dir, name), "utf8");
const config = loadConfig({ file: join(dir, "kiln.yaml"), env: {} });
let deps: OwnedFlowDeps;
let api: TestServer;
let charges = 0;

before(async () => {
  api = await startHttpServer((request, body, response) => {
    const url = new URL(request.url ?? "/", "http://x");
    if (request.headers.authorization !== undefined && request.headers.authorization !== "Bearer pay-token") {
      return json(response, 401, { error: "bad token" });
    }
    if (url.pathname === "/approvals/requests") return json(response, 202, { queued: true });
    if (url.pathname === "/payments/charges") {
      charges++;
      return json(response, 201, { id: `ch_${charges}`, ...JSON.parse(body) });
    }
    if (url.pathname === "/payments/refunds") return json(response, 201, { refunded: JSON.parse(body).charge });
    if (url.pathname.startsWith("/orders/orders/")) {
      return url.pathname.endsWith("/o-broken") ? json(response, 500, { error: "db down" }) : json(response, 200, {});
    }
    if (url.pathname.startsWith("/api/items/")) {
      return json(response, 200, { id: url.pathname.slice(11), price: Number(url.pathname.slice(11)) * 10 });
    }
    if (url.pathname === "/api/catalog") return json(response, 200, { name: `catalog${url.search}`, currency: "EUR" });
    json(response, 404, { error: "not found" });
  });
  deps = await createFlowDeps({
    plugins: config.plugins,
    pluginBaseDir: config.baseDir,
    resolveSecret: (name) => (name === "PAYMENTS_TOKEN" ? "pay-token" : undefined),
    env: {
      APPROVALS_URL: `${api.url}/approvals`,
      PAYMENTS_URL: `${api.url}/payments`,
      ORDERS_URL: `${api.url}/orders`,
      API_URL: `${api.url}/api`,
    },
  });
});
after(async () => {
  await api.close();
  deps.dispose();
});

it("every example flow validates (kiln validate) with the examples' plugins", async () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kiln.yaml");
  assert.ok(files.length >= 3);
  for (const file of files) {
    assert.deepEqual(await validateFlowFile(join(dir, file), config.plugins, { baseDir: config.baseDir }), [], file);
  }
});

describeOnStores(
  "examples/flows",
  () => deps,
  ({ harness }) => {
    it("order-approval: a small order is charged at once", async () => {
      const h = harness("ex-small", { "order-approval": example("order-approval.yaml") });
      const id = await h.start("order-approval", { order_id: "o-1", amount: 120, email: "ada@example.com" });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, {
        status: "charged",
        charge: (run.output as { charge: string }).charge,
        order: "o-1",
      });
      assert.ok(!(await h.stored(id)).includes("pay-token"));
    });

    it("order-approval: a large order waits for approval, durably; a denial or a timeout rejects it", async () => {
      const h = harness("ex-large", { "order-approval": example("order-approval.yaml") });
      const approved = await h.start("order-approval", { order_id: "o-2", amount: 5000, email: "a@example.com" });
      const denied = await h.start("order-approval", { order_id: "o-3", amount: 5000, email: "a@example.com" });
      const forgotten = await h.start("order-approval", { order_id: "o-4", amount: 5000, email: "a@example.com" });
      await h.worker.drain();
      assert.equal((await h.run(approved)).status, "waiting");
      const send = (key: string, payload: unknown) =>
        h.store.sendEvent({ namespace: h.namespace, name: "order.approved", key, payload });
      await send("o-2", { approved: true });
      await send("o-3", { approved: false, reason: "fraud check" });
      await h.worker.drain();
      assert.equal(((await h.run(approved)).output as { status: string }).status, "charged");
      assert.deepEqual((await h.run(denied)).output, { status: "rejected", order: "o-3", reason: "fraud check" });
      h.clock.now += 2 * 86_400_000;
      await h.worker.drain();
      assert.deepEqual((await h.run(forgotten)).output, { status: "rejected", order: "o-4", reason: "EVENT_TIMEOUT" });
    });

    it("order-approval: a failure after the charge refunds it (compensation) and rejects bad input", async () => {
      const h = harness("ex-refund", { "order-approval": example("order-approval.yaml") });
      const before = api.requests.filter((r) => r.url === "/payments/refunds").length;
      const id = await h.start("order-approval", { order_id: "o-broken", amount: 10, email: "a@example.com" });
      const bad = await h.start("order-approval", { order_id: "o-9", amount: -3 });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "compensated", JSON.stringify(run.error));
      assert.match(run.error?.message ?? "", /Node "confirm" failed/);
      assert.equal(api.requests.filter((r) => r.url === "/payments/refunds").length, before + 1);
      const invalid = await h.run(bad);
      assert.equal(invalid.error?.code, "INVALID_INPUT");
      assert.match(invalid.error?.message ?? "", /input\.email: missing/);
    });

    it("http-fanout: fetches items with bounded concurrency next to a parallel branch, then joins", async () => {
      const h = harness("ex-fanout", { "http-fanout": example("http-fanout.yaml") });
      const ids = ["1", "2", "3", "4", "5", "6", "7"];
      const id = await h.start("http-fanout", { ids });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, {
        catalog: "catalog?fields=name&fields=currency",
        count: 7,
        total: 280,
        currency: "EUR",
      });
      const names = (await h.steps(id)).map((s) => s.name);
      assert.deepEqual(names.filter((n) => n.startsWith("items[")).length, 7);
      assert.ok(names.includes("meta") && names.includes("summary"));
    });

    it("quickstart approval flow: waits for the approval event and routes on it", async () => {
      const text = readFileSync(join(dir, "../quickstart/workflows/approval.yaml"), "utf8");
      const h = harness("ex-quickstart", { approval: text });
      const yes = await h.start("approval", { order: "o-1", amount: 12 });
      const no = await h.start("approval", { order: "o-2", amount: 12 });
      await h.worker.drain();
      assert.equal((await h.run(yes)).status, "waiting");
      await h.store.sendEvent({
        namespace: h.namespace,
        name: "order.approval",
        key: "o-1",
        payload: { approved: true },
      });
      await h.store.sendEvent({
        namespace: h.namespace,
        name: "order.approval",
        key: "o-2",
        payload: { approved: false },
      });
      await h.worker.drain();
      assert.deepEqual((await h.run(yes)).output, { shipped: true, order: "o-1" });
      assert.deepEqual((await h.run(no)).output, { shipped: false, order: "o-2" });
    });

    it("publish-post: steps shorthand with the example plugin's node types and a shell step", async () => {
      const h = harness("ex-post", { "publish-post": example("publish-post.yaml") });
      const id = await h.start("publish-post", { title: "Héllo, World: Outage Report!", body: "An outage at 3am" });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, {
        url: "/posts/hello-world-outage-report.html",
        log: "rendered hello-world-outage-report (63 bytes)",
        urgent: true,
      });
      assert.ok((await h.logs(id)).some((l) => l.message === "slug: slug for slug: hello-world-outage-report"));
    });
  },
);
