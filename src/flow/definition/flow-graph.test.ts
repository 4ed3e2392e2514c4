import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { KilnError } from "../../errors.ts";
import type { FlowDefinition } from "./flow-definition.ts";
import { checkVisit, dependentsOf, FlowCursor, isJoinReady, type NodeActivation, routeAfter } from "./flow-graph.ts";
import { loadFlow } from "./flow-load.ts";
import { nodeTypeRegistry } from "../nodes/node-type.ts";
import { Sandbox } from "../expressions/sandbox.ts";

const sandbox = await Sandbox.create();
after(() => sandbox.dispose());
// "pause" is a placeholder node type without params.
const nodeTypes = nodeTypeRegistry([{ type: "pause" }]);
const load = (text: string): FlowDefinition => loadFlow(text, { code: sandbox, file: "g.yaml", nodeTypes });

const ROUTING = load(`
nodes:
  start:
    type: condition
    params: { conditions: [{ condition: "true", action: big }] }
    next:
      big: [a, b]
      default: c
      error: handler
  a: { type: pause, next: { custom: c } }
  b: { type: pause }
  c: { type: pause }
  handler: { type: pause }
`);

const ids = (activations: readonly NodeActivation[]) => activations.map((a) => a.nodeId);
const done = (output: unknown) => ({ action: "default", status: "completed", output });

describe("routeAfter", () => {
  test("routes by action, fanning out to lists", () => {
    assert.deepEqual(routeAfter(ROUTING, "start", "big"), { kind: "next", nodeIds: ["a", "b"] });
    assert.deepEqual(routeAfter(ROUTING, "start", "default"), { kind: "next", nodeIds: ["c"] });
    assert.deepEqual(routeAfter(ROUTING, "start", "error"), { kind: "next", nodeIds: ["handler"] });
    assert.deepEqual(routeAfter(ROUTING, "a", "custom"), { kind: "next", nodeIds: ["c"] });
  });

  test("an action without a route takes the default route, else ends the branch", () => {
    assert.deepEqual(routeAfter(ROUTING, "start", "other"), { kind: "next", nodeIds: ["c"] });
    assert.deepEqual(routeAfter(ROUTING, "a", "default"), { kind: "next", nodeIds: [] });
    assert.deepEqual(routeAfter(ROUTING, "b", "anything"), { kind: "next", nodeIds: [] });
  });

  test("an error without an error route fails the run", () => {
    assert.deepEqual(routeAfter(ROUTING, "a", "error"), { kind: "fail", nodeId: "a" });
  });
});

const JOIN = load(`
nodes:
  split: { type: pause, next: [left, right] }
  left: { type: pause, next: join }
  right: { type: pause }
  join: { type: pause, needs: [left, right] }
`);

describe("joins and visits", () => {
  test("dependentsOf and isJoinReady", () => {
    assert.deepEqual(dependentsOf(JOIN, "left"), ["join"]);
    assert.deepEqual(dependentsOf(JOIN, "split"), []);
    assert.equal(isJoinReady(JOIN, "join", new Set(["left"])), false);
    assert.equal(isJoinReady(JOIN, "join", new Set(["left", "right"])), true);
    assert.equal(isJoinReady(JOIN, "split", new Set()), true);
  });

  test("checkVisit allows max_visits visits and names the node and limit past it", () => {
    const flow = load("max_visits: 2\nnodes:\n  a: { type: pause }\n");
    checkVisit(flow, "a", 2);
    assert.throws(
      () => checkVisit(flow, "a", 3),
      (error: unknown) => {
        assert.ok(error instanceof KilnError);
        assert.equal(error.code, "VISIT_LIMIT_EXCEEDED");
        assert.equal(error.retryable, false);
        assert.equal(
          error.message,
          'Node "a" of flow "g" would run more than 2 times (max_visits: 2); check the cycle through it, or raise max_visits',
        );
        assert.deepEqual(error.data, { nodeId: "a", visits: 3, maxVisits: 2 });
        return true;
      },
    );
  });
});

describe("FlowCursor", () => {
  test("a linear flow: inputs chain, the output is the last node's", () => {
    const flow = load("nodes:\n  a: { type: pause, next: b }\n  b: { type: pause, next: c }\n  c: { type: pause }\n");
    const cursor = new FlowCursor(flow, { n: 1 });
    assert.deepEqual(cursor.output, { n: 1 });
    let batch = cursor.takeReady();
    assert.deepEqual(batch, [{ nodeId: "a", input: { n: 1 }, from: null, visit: 1 }]);
    cursor.finish("a", done(2));
    batch = cursor.takeReady();
    assert.deepEqual(batch, [{ nodeId: "b", input: 2, from: "a", visit: 1 }]);
    cursor.finish("b", done(3));
    assert.deepEqual(ids(cursor.takeReady()), ["c"]);
    assert.equal(cursor.isDone, true);
    assert.deepEqual(cursor.finish("c", done(4)), { kind: "next", nodeIds: [] });
    assert.equal(cursor.isDone, true);
    assert.equal(cursor.output, 4);
    assert.equal(cursor.lastNodeId, "c");
  });

  test("before any node runs, the output is the flow input", () => {
    const cursor = new FlowCursor(load("nodes:\n  a: { type: pause }\n"), "in");
    assert.equal(cursor.output, "in");
    assert.equal(cursor.lastNodeId, null);
  });

  test("fan-out then join: the join waits for every need and gets their outputs", () => {
    const cursor = new FlowCursor(JOIN, null);
    cursor.takeReady();
    cursor.finish("split", done("s"));
    assert.deepEqual(ids(cursor.takeReady()), ["left", "right"]);
    cursor.finish("left", done("L"));
    assert.deepEqual(cursor.takeReady(), [], "the route left → join does not start the join");
    assert.deepEqual(cursor.waitingJoins, [{ nodeId: "join", missing: ["right"] }]);
    cursor.finish("right", done("R"));
    assert.deepEqual(cursor.takeReady(), [{ nodeId: "join", input: { left: "L", right: "R" }, from: null, visit: 1 }]);
    assert.deepEqual(cursor.waitingJoins, []);
    cursor.finish("join", done("J"));
    assert.equal(cursor.output, "J");
  });

  test("routing by a condition's action, and several start nodes", () => {
    const flow = load("nodes:\n  a: { type: pause }\n  b: { type: pause }\n");
    const cursor = new FlowCursor(flow, 0);
    assert.deepEqual(ids(cursor.takeReady()), ["a", "b"]);
    const routing = new FlowCursor(ROUTING, 0);
    routing.takeReady();
    assert.deepEqual(routing.finish("start", { action: "big", status: "completed", output: 1 }), {
      kind: "next",
      nodeIds: ["a", "b"],
    });
    assert.deepEqual(ids(routing.takeReady()), ["a", "b"]);
  });

  test("an error route gives the handler the error as input; without one the run fails", () => {
    const cursor = new FlowCursor(ROUTING, 0);
    cursor.takeReady();
    const error = { code: "STEP_FAILED", message: "boom" };
    cursor.finish("start", { action: "error", status: "failed", output: null, error });
    assert.deepEqual(cursor.takeReady(), [{ nodeId: "handler", input: error, from: "start", visit: 1 }]);
    assert.deepEqual(cursor.results().start, { output: null, status: "failed", error });
    const failing = new FlowCursor(ROUTING, 0);
    failing.takeReady();
    failing.finish("start", done(1));
    failing.takeReady();
    assert.deepEqual(failing.finish("c", { action: "error", status: "failed", output: null, error }), {
      kind: "fail",
      nodeId: "c",
    });
  });

  test("a skipped node routes on but does not become the output", () => {
    const flow = load("nodes:\n  a: { type: pause, next: b }\n  b: { type: pause, when: false }\n");
    const cursor = new FlowCursor(flow, 0);
    cursor.takeReady();
    cursor.finish("a", done("A"));
    cursor.takeReady();
    cursor.finish("b", { action: "default", status: "skipped", output: null });
    assert.equal(cursor.output, "A");
    assert.equal(cursor.lastNodeId, "a");
    assert.equal(cursor.results().b?.status, "skipped");
  });

  test("a cycle runs until the visit limit", () => {
    const flow = load(`
max_visits: 3
nodes:
  start: { type: pause, next: poll }
  poll: { type: pause, next: { again: poll } }
`);
    const cursor = new FlowCursor(flow, 0);
    cursor.takeReady();
    cursor.finish("start", done(0));
    for (let visit = 1; visit <= 3; visit++) {
      const [activation] = cursor.takeReady();
      assert.equal(activation?.visit, visit);
      cursor.finish("poll", { action: "again", status: "completed", output: visit });
    }
    assert.equal(cursor.visits("poll"), 3);
    assert.throws(() => cursor.takeReady(), /Node "poll" of flow "g" would run more than 3 times/);
  });

  test("a join in a loop waits for all its needs again on each visit", () => {
    const flow = load(`
nodes:
  start: { type: pause, next: [x, y] }
  x: { type: pause }
  y: { type: pause }
  j: { type: pause, needs: [x, y], next: { again: [x, y] } }
`);
    const cursor = new FlowCursor(flow, 0);
    cursor.takeReady();
    cursor.finish("start", done(0));
    cursor.takeReady();
    cursor.finish("x", done(1));
    cursor.finish("y", done(2));
    assert.deepEqual(ids(cursor.takeReady()), ["j"]);
    cursor.finish("j", { action: "again", status: "completed", output: 3 });
    assert.deepEqual(ids(cursor.takeReady()), ["x", "y"]);
    cursor.finish("x", done(4));
    assert.deepEqual(ids(cursor.takeReady()), []);
    cursor.finish("y", done(5));
    const [join] = cursor.takeReady();
    assert.deepEqual(join, { nodeId: "j", input: { x: 4, y: 5 }, from: null, visit: 2 });
  });

  test("scopeFor builds the expression scope from a snapshot of the results", () => {
    const flow = load("nodes:\n  a: { type: pause, next: b }\n  b: { type: pause }\n");
    const cursor = new FlowCursor(flow, { id: 7 });
    cursor.takeReady();
    cursor.finish("a", done({ v: 1 }));
    const [activation] = cursor.takeReady();
    assert.ok(activation);
    const scope = cursor.scopeFor(activation, { secrets: { K: "v" }, env: { E: "1" }, run: { id: "r" } });
    assert.deepEqual(scope.input, { v: 1 });
    assert.deepEqual(scope.flow, { input: { id: 7 }, name: "g" });
    assert.deepEqual({ ...scope.nodes }, { a: { output: { v: 1 }, status: "completed", error: null } });
    assert.deepEqual(scope.secrets, { K: "v" });
    assert.deepEqual(scope.env, { E: "1" });
    assert.deepEqual(scope.run, { id: "r" });
    cursor.finish("b", done(2));
    assert.equal(Object.hasOwn(scope.nodes ?? {}, "b"), false, "later results do not leak into an earlier scope");
    assert.equal(sandbox.evaluate("nodes.a.output.v + flow.input.id", scope).value, 8);
    assert.deepEqual(Object.keys(cursor.scopeFor(activation)), ["input", "flow", "nodes"]);
    assert.equal(cursor.scopeFor(activation).flow, cursor.scopeFor(activation).flow, "one flow object per cursor");
    const extra = { flow: { version: "1" } };
    assert.deepEqual(cursor.scopeFor(activation, extra).flow, { version: "1", input: { id: 7 }, name: "g" });
  });
});
