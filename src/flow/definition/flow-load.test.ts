// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { KilnError } from "../../errors.ts";
import { findNode, getNode } from "./flow-definition.ts";
import { loadFlow, readFlowFile } from "./flow-load.ts";
import { nodeTypeRegistry } from "../nodes/node-type.ts";
import { Sandbox } from "../expressions/sandbox.ts";

const sandbox = await Sandbox.create();
after(() => sandbox.dispose());
// "pause" is a placeholder node type without params.
const nodeTypes = nodeTypeRegistry([{ type: "pause" }]);
const load = (text: string, name?: string) =>
  loadFlow(text, { code: sandbox, file: "orders.yaml", nodeTypes, ...(name === undefined ? {} : { name }) });

const ORDER_FLOW = `
metadata:
  name: process-order
  description: Charge and ship
  version: 3
params:
  type: object
  required: [orderId]
max_visits: 5
nodes:
  fetch:
    type: http.request
    params:
      url: "https://shop/orders/\${input.orderId}"
      headers: { Authorization: "Bearer \${secrets.SHOP_TOKEN}" }
    retry:
      max_attempts: 3
      initial_interval: 500ms
      max_interval: 1m
      backoff_coefficient: 3
    timeout: 30s
    next:
      default: check
      error: notify
  check:
    type: condition
    params:
      conditions:
        - { condition: "input.body.total > 100", action: review }
      default_action: auto
    next:
      review: [notify, charge]
      auto: charge
  charge:
    type: task
    params: { kind: charge-card }
    compensate: refund
  refund:
    type: script
    params: { run: ./refund-card.sh }
  notify:
    name: Tell the team
    type: email.send
    params: { to: ops@example.com, subject: Order failed }
    when: "\${input !== null}"
    compensate:
      type: transform
      params: { script: "return 1" }
`;

describe("loadFlow resolves a nodes flow", () => {
  test("metadata, input schema, visit limit and start nodes", () => {
    const flow = load(ORDER_FLOW);
    assert.equal(flow.name, "process-order");
    assert.equal(flow.description, "Charge and ship");
    assert.equal(flow.version, "3");
    assert.deepEqual(flow.inputSchema, { type: "object", required: ["orderId"] });
    assert.equal(flow.maxVisits, 5);
    assert.deepEqual(flow.nodeIds, ["fetch", "check", "charge", "refund", "notify"]);
    assert.deepEqual(flow.startNodeIds, ["fetch"], "refund is only a compensation");
  });

  test("nodes: routes as lists, retry policy and timeout in ms, params as written", () => {
    const flow = load(ORDER_FLOW);
    const fetch = getNode(flow, "fetch");
    assert.equal(fetch.type, "http.request");
    assert.deepEqual({ ...fetch.next }, { default: ["check"], error: ["notify"] });
    assert.deepEqual(fetch.retry, {
      maxAttempts: 3,
      initialIntervalMs: 500,
      maxIntervalMs: 60_000,
      backoffCoefficient: 3,
      jitter: 0,
      nonRetryableErrors: [],
    });
    assert.equal(fetch.timeoutMs, 30_000);
    assert.equal(fetch.params.url, "https://shop/orders/${input.orderId}");
    assert.deepEqual({ ...getNode(flow, "check").next }, { review: ["notify", "charge"], auto: ["charge"] });
    const notify = getNode(flow, "notify");
    assert.equal(notify.name, "Tell the team");
    assert.equal(notify.when, "${input !== null}");
    assert.equal(notify.retry, null);
    assert.equal(notify.timeoutMs, null);
    assert.deepEqual(notify.needs, []);
  });

  test("compensations: a named node without its routes, or an inline node", () => {
    const flow = load(ORDER_FLOW);
    const refund = getNode(flow, "charge").compensate;
    assert.equal(refund?.id, "refund");
    assert.equal(refund?.type, "script");
    assert.deepEqual(refund?.params, { run: "./refund-card.sh" });
    const inline = getNode(flow, "notify").compensate;
    assert.equal(inline?.id, "notify.compensate");
    assert.equal(inline?.type, "transform");
  });

  test("the definition is deeply frozen and ids are plain keys", () => {
    const flow = load(ORDER_FLOW);
    assert.ok(Object.isFrozen(flow) && Object.isFrozen(flow.nodes) && Object.isFrozen(getNode(flow, "fetch").params));
    assert.ok(Object.isFrozen((getNode(flow, "fetch").params as { headers: object }).headers));
    assert.throws(() => {
      (flow.nodeIds as string[]).push("x");
    });
    assert.equal(findNode(flow, "constructor"), undefined);
    assert.equal(findNode(flow, "toString"), undefined);
    assert.throws(
      () => getNode(flow, "nope"),
      (e: unknown) => e instanceof KilnError && e.code === "INTERNAL",
    );
  });

  test("defaults: name from the options or the file, max_visits 100, type alias run", () => {
    const flow = load("nodes:\n  a:\n    type: run\n    params: { run: echo hi }\n", "given");
    assert.equal(flow.name, "given");
    assert.equal(flow.maxVisits, 100);
    assert.equal(flow.version, null);
    assert.equal(flow.inputSchema, null);
    assert.equal(getNode(flow, "a").type, "script");
    assert.equal(load("nodes:\n  a: { type: pause }\n").name, "orders");
  });

  test("cycles are allowed (bounded by max_visits at run time)", () => {
    const flow = load(
      "nodes:\n  start:\n    type: pause\n    next: a\n  a:\n    type: pause\n    next: b\n  b:\n    type: pause\n    next: { again: a }\n",
    );
    assert.deepEqual(flow.startNodeIds, ["start"]);
    assert.deepEqual({ ...getNode(flow, "b").next }, { again: ["a"] });
  });
});

describe("loadFlow resolves the steps shorthand", () => {
  test("steps run in order: each gets a default route to the next", () => {
    const flow = load(`
steps:
  - name: checkout
    run: git clone $REPO
  - id: build
    name: Build it
    type: transform
    with: { script: "return 1" }
    if: input.ok
  - name: Deploy now
    type: pause
    timeout: 5m
`);
    assert.deepEqual(flow.nodeIds, ["checkout", "build", "step_3"]);
    assert.deepEqual(flow.startNodeIds, ["checkout"]);
    const checkout = getNode(flow, "checkout");
    assert.equal(checkout.type, "script");
    assert.deepEqual(checkout.params, { run: "git clone $REPO" });
    assert.deepEqual({ ...checkout.next }, { default: ["build"] });
    const build = getNode(flow, "build");
    assert.equal(build.name, "Build it");
    assert.deepEqual(build.params, { script: "return 1" });
    assert.equal(build.when, "input.ok");
    assert.deepEqual({ ...build.next }, { default: ["step_3"] });
    assert.equal(getNode(flow, "step_3").name, "Deploy now");
    assert.equal(getNode(flow, "step_3").timeoutMs, 300_000);
    assert.deepEqual({ ...getNode(flow, "step_3").next }, {});
  });

  test("needs breaks the sequence: parallel branches and a join", () => {
    const flow = load(`
steps:
  - id: prepare
    run: ./prepare.sh
  - id: lint
    run: npm run lint
    needs: [prepare]
  - id: test
    run: npm test
    depends: [prepare]
  - id: report
    run: ./report.sh
    needs: [lint, test]
`);
    assert.deepEqual(flow.startNodeIds, ["prepare"]);
    assert.deepEqual({ ...getNode(flow, "prepare").next }, {}, "lint has needs: no implicit route");
    assert.deepEqual(getNode(flow, "test").needs, ["prepare"]);
    assert.deepEqual(getNode(flow, "report").needs, ["lint", "test"]);
    assert.deepEqual({ ...getNode(flow, "lint").next }, {});
  });

  test("an explicit next keeps its routes; a map without default gets the implicit one", () => {
    const flow = load(`
steps:
  - id: a
    type: condition
    params: { conditions: [{ condition: "true", action: skip }] }
    next: { skip: c }
  - id: b
    type: pause
    next: [c]
  - id: c
    type: pause
`);
    assert.deepEqual({ ...getNode(flow, "a").next }, { skip: ["c"], default: ["b"] });
    assert.deepEqual({ ...getNode(flow, "b").next }, { default: ["c"] });
  });

  test("needs: [] starts a parallel branch", () => {
    const flow = load("steps:\n  - id: a\n    type: pause\n  - id: b\n    type: pause\n    needs: []\n");
    assert.deepEqual(flow.startNodeIds, ["a", "b"]);
  });
});

describe("readFlowFile", () => {
  test("reads a file; messages use its path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-flow-"));
    const path = join(dir, "nightly.yaml");
    writeFileSync(path, "nodes:\n  a:\n    type: pause\n");
    const flow = await readFlowFile(path, { code: sandbox, nodeTypes });
    assert.equal(flow.name, "nightly");
    writeFileSync(path, "nodes:\n  a:\n    type: slep\n");
    await assert.rejects(readFlowFile(path, { code: sandbox }), (e: unknown) => {
      assert.ok(e instanceof KilnError && e.code === "INVALID_CONFIG");
      assert.match(e.message, new RegExp(`${path}:3:11 nodes.a.type: Unknown node type "slep"`));
      return true;
    });
    await assert.rejects(readFlowFile(join(dir, "missing.yaml"), { code: sandbox }), /Cannot read flow file/);
  });
});
