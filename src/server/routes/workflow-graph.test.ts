import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openTestApp, type TestApp } from "../../../tests/support/test-app.ts";
import { flowGraphOf } from "./workflow-graph.ts";

const FLOW = `metadata: { name: approve }
params:
  type: object
  required: [order]
nodes:
  prepare: { type: transform, params: { script: "return input" }, next: ask }
  ask: { type: wait_for_event, params: { event: ok }, next: decide }
  decide:
    type: condition
    params: { conditions: [{ condition: "input.ok", action: yes }], default_action: no }
    next: { yes: [ship], no: refuse }
  ship: { type: transform, params: { script: "return 1" } }
  refuse: { type: transform, params: { script: "return 2" } }
  done: { type: transform, needs: [ship, refuse], params: { script: "return 3" } }
`;

describe("flow graph route", () => {
  let t: TestApp;
  before(async () => {
    t = await openTestApp("sqlite");
  });
  after(async () => {
    await t?.close();
  });

  it("reads nodes, routes by action, joins and the input schema from the YAML", () => {
    const graph = flowGraphOf(FLOW);
    assert.deepEqual(
      graph.nodes.map((n) => `${n.id}:${n.type}`),
      [
        "prepare:transform",
        "ask:wait_for_event",
        "decide:condition",
        "ship:transform",
        "refuse:transform",
        "done:transform",
      ],
    );
    assert.deepEqual(
      graph.edges.map((e) => `${e.from}-${e.action}->${e.to}`),
      [
        "prepare-default->ask",
        "ask-default->decide",
        "decide-yes->ship",
        "decide-no->refuse",
        "ship-needs->done",
        "refuse-needs->done",
      ],
    );
    assert.deepEqual(graph.inputSchema, { type: "object", required: ["order"] });
  });

  it("answers for a deployed flow version, and refuses code workflows and unknown versions with codes", async () => {
    const deploy = (name: string, source: string, runtime: string) =>
      t.json("/v1/workflows", {
        method: "POST",
        token: t.tokens.root,
        namespace: "team",
        json: { name, source, runtime },
      });
    const flow = await deploy("approve", FLOW, "flow");
    assert.ok(flow.status === 201 || flow.status === 200, JSON.stringify(flow.body));
    const version = (flow.body as { version: string }).version;
    const ok = await t.json<{ nodes: unknown[] }>(`/v1/workflows/approve/versions/${version}/graph`, {
      token: t.tokens.viewer,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.nodes.length, 6);
    const code = await deploy("plain", "export default async function plain() { return 1; }", "node");
    assert.ok(code.status < 300, JSON.stringify(code.body));
    const refused = await t.json<{ error: { code: string } }>(
      `/v1/workflows/plain/versions/${(code.body as { version: string }).version}/graph`,
      { token: t.tokens.viewer },
    );
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, "INVALID_INPUT");
    const missing = await t.json<{ error: { code: string } }>("/v1/workflows/approve/versions/99/graph", {
      token: t.tokens.viewer,
    });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "WORKFLOW_NOT_FOUND");
  });
});
