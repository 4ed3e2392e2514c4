// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { KilnError } from "../../errors.ts";
import { createFlowDeps, type OwnedFlowDeps } from "./flow-deps.ts";
import { createFlowWorkflow } from "./flow-interpreter.ts";
import { loadFlow } from "../definition/flow-load.ts";
import {
  describeOnStores,
  json,
  startHttpServer,
  TestProbe,
  type TestServer,
} from "../../../tests/support/flow-helpers.ts";

const probe = new TestProbe();
const SECRET = "s3cr3t-t0ken-4242";
let deps: OwnedFlowDeps;
let server: TestServer;
let flaky = 0;

before(async () => {
  deps = await createFlowDeps({
    nodeTypes: probe.nodeTypes(),
    resolveSecret: (name) => (name === "API_TOKEN" ? SECRET : undefined),
    env: { REGION: "eu-1" },
    sandbox: { scriptTimeoutMs: 1000 },
  });
  server = await startHttpServer((request, body, response) => {
    const url = new URL(request.url ?? "/", "http://x");
    if (url.pathname === "/echo") return json(response, 200, { headers: request.headers, body, query: url.search });
    if (url.pathname === "/flaky") {
      flaky++;
      return flaky <= 2 ? json(response, 503, { error: `down ${flaky}` }) : json(response, 200, { ok: true, flaky });
    }
    if (url.pathname === "/missing") return json(response, 404, { error: "no such order" });
    if (url.pathname === "/leak") return json(response, 500, { error: `bad token ${request.headers.authorization}` });
    json(response, 200, { path: url.pathname });
  });
});
after(async () => {
  await server.close();
  deps.dispose();
});

describeOnStores(
  "flow interpreter",
  () => deps,
  ({ harness, dialect }) => {
    it("routes by the action a condition returns, and the flow output is the last node's", async () => {
      const flow = `
nodes:
  check:
    type: condition
    params:
      conditions:
        - { condition: "input.total > 100", action: review }
        - { condition: "input.total === 0", action: empty }
    next: { review: manual, empty: nothing, default: auto }
  manual: { type: transform, params: { script: "return { route: 'manual', total: input.total }" } }
  auto: { type: transform, params: { script: "return { route: 'auto', total: input.total }" } }
  nothing: { type: transform, params: { script: "return { route: 'none' }" } }
`;
      const h = harness("route", { orders: flow });
      const big = await h.start("orders", { total: 250 });
      const small = await h.start("orders", { total: 5 });
      const zero = await h.start("orders", { total: 0 });
      await h.worker.drain();
      assert.deepEqual((await h.run(big)).output, { route: "manual", total: 250 });
      assert.deepEqual((await h.run(small)).output, { route: "auto", total: 5 });
      assert.deepEqual((await h.run(zero)).output, { route: "none" });
      const steps = await h.steps(big);
      assert.deepEqual(
        steps.map((s) => [s.name, s.status]),
        [
          ["check", "completed"],
          ["manual", "completed"],
        ],
      );
      assert.deepEqual(steps[0]?.output, { action: "review", output: { total: 250 } });
    });

    it("fails a transform whose output is over the payload limit instead of leaving the run running", async () => {
      const flow = `
nodes:
  big: { type: transform, params: { script: "return 'x'.repeat(2 * 1048576)" } }
`;
      const h = harness("big-transform", { big: flow });
      const id = await h.start("big", {});
      await h.worker.drain();
      const run = await h.run(id);
      assert.deepEqual([run.status, run.error?.code], ["failed", "PAYLOAD_TOO_LARGE"], JSON.stringify(run.error));
      const [step] = await h.steps(id);
      assert.deepEqual([step?.name, step?.status, step?.error?.code], ["big", "failed", "PAYLOAD_TOO_LARGE"]);
    });

    it("chains transforms: input is the previous output; nodes, flow, env and run are in scope", async () => {
      const flow = `
steps:
  - id: double
    type: transform
    params: { script: "console.log('doubling', input.n); return { n: input.n * 2 }" }
  - id: add
    type: transform
    params: { script: "return { n: input.n + nodes.double.output.n + flow.input.n }" }
  - id: describe
    type: transform
    params:
      script: "return { text: 'n=' + input.n + ' region=' + env.REGION + ' flow=' + flow.name + ' run=' + (typeof run.id) }"
`;
      const h = harness("chain", { chain: flow });
      const id = await h.start("chain", { n: 3 });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, { text: "n=15 region=eu-1 flow=chain run=string" });
      assert.deepEqual(
        (await h.steps(id)).map((s) => s.name),
        ["double", "add", "describe"],
      );
      const logs = await h.logs(id);
      assert.ok(
        logs.some((l) => l.message === "double: doubling 3"),
        logs.map((l) => l.message).join("\n"),
      );
    });

    it("fails a transform whose result is over the payload cap with PAYLOAD_TOO_LARGE", async () => {
      const flow = `
steps:
  - id: huge
    type: transform
    params: { script: "return 'x'.repeat(2 * 1024 * 1024)" }
`;
      const h = harness("oversize", { huge: flow });
      const id = await h.start("huge", {});
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "failed", JSON.stringify(run.error));
      assert.equal(run.error?.code, "PAYLOAD_TOO_LARGE");
    });

    it("joins parallel branches on needs: the join's input holds each branch's output", async () => {
      const flow = `
nodes:
  split: { type: transform, params: { script: "return input" }, next: [left, right] }
  left: { type: transform, params: { script: "return input.a * 10" } }
  right:
    type: transform
    params: { script: "return input.b + 1" }
    next: right2
  right2: { type: transform, params: { script: "return input * 100" } }
  join:
    type: transform
    needs: [left, right2]
    params: { script: "return { sum: input.left + input.right2, left: nodes.left.output }" }
`;
      const h = harness("join", { join: flow });
      const id = await h.start("join", { a: 2, b: 3 });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, { sum: 420, left: 20 });
      assert.deepEqual(
        (await h.steps(id)).map((s) => s.name),
        ["split", "left", "right", "right2", "join"],
        "batches run in lock-step, each in written order",
      );
    });

    it("follows an error route with the error as input; without one the run fails and compensations run", async () => {
      const flow = `
nodes:
  reserve:
    type: test.count
    params: { key: "reserve-${"$"}{run.id}" }
    compensate:
      type: test.count
      params: { key: "undo-${"$"}{run.id}" }
    next: fetch
  fetch:
    type: http.request
    params: { url: "${"$"}{flow.input.url}" }
    next: { error: handled }
  handled:
    type: transform
    params: { script: "return { code: input.code, status: input.data.status, body: input.data.body }" }
`.replaceAll("$" + "{", "${");
      const strict = flow.replace("next: { error: handled }", "next: handled");
      const h = harness("errors", { lenient: flow, strict });
      const a = await h.start("lenient", { url: `${server.url}/missing` });
      const b = await h.start("strict", { url: `${server.url}/missing` });
      await h.worker.drain();
      const lenient = await h.run(a);
      assert.equal(lenient.status, "completed");
      assert.deepEqual(lenient.output, { code: "HTTP_REQUEST_FAILED", status: 404, body: { error: "no such order" } });
      const fetchStep = (await h.steps(a)).find((s) => s.name === "fetch");
      assert.equal(fetchStep?.status, "failed");
      const strictRun = await h.run(b);
      assert.equal(strictRun.status, "compensated");
      assert.equal(strictRun.error?.code, "HTTP_REQUEST_FAILED");
      assert.match(strictRun.error?.message ?? "", /Node "fetch" failed: GET .*\/missing answered 404/);
      assert.equal(probe.count(`undo-${b}`), 1, "the completed node was compensated");
      assert.equal(probe.count(`undo-${a}`), 0, "a run that completed is not compensated");
    });

    it("retries an http.request node durably (retries: 2) against a server that fails twice", async () => {
      flaky = 0;
      const flow = `
nodes:
  call:
    type: http.request
    params: { url: "${server.url}/flaky", retries: 2 }
`;
      const h = harness("retry", { retry: flow });
      const id = await h.start("retry");
      await h.worker.drain();
      assert.equal((await h.run(id)).status, "sleeping");
      assert.equal(flaky, 1);
      h.clock.now += 1000;
      await h.worker.drain();
      assert.equal((await h.run(id)).status, "sleeping");
      assert.equal(flaky, 2);
      h.clock.now += 2000;
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual((run.output as { body: unknown }).body, { ok: true, flaky: 3 });
      const [step] = await h.steps(id);
      assert.equal(step?.attempt, 3);
    });

    it("never stores a secret: header value, echoed body, console output and error messages are masked", async () => {
      const flow = `
nodes:
  call:
    type: http.request
    params:
      url: "${server.url}/echo"
      headers: { Authorization: "Bearer ${"$"}{secrets.API_TOKEN}" }
    next: shout
  shout:
    type: transform
    params: { script: "console.log('token is', secrets.API_TOKEN); return { seen: input.body.headers.authorization }" }
    next: leak
  leak:
    type: http.request
    params:
      url: "${server.url}/leak"
      headers: { authorization: "${"$"}{secrets.API_TOKEN}" }
`.replaceAll("$" + "{", "${");
      const h = harness("secrets", { secretive: flow });
      const id = await h.start("secretive");
      const before = server.requests.length;
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "failed");
      assert.equal(server.requests[before]?.headers.authorization, `Bearer ${SECRET}`, "the server got the real value");
      const stored = await h.stored(id);
      assert.ok(!stored.includes(SECRET), "the secret appears nowhere in the run, its steps or its logs");
      assert.ok(stored.includes("Bearer ***"), "the echoed header is masked");
      assert.ok((await h.logs(id)).some((l) => l.message === "shout: token is ***"));
      assert.match(run.error?.message ?? "", /answered 500/);
      assert.ok(JSON.stringify(run.error).includes("bad token ***"));
    });

    it("fails a cycle that goes over max_visits with VISIT_LIMIT_EXCEEDED", async () => {
      const flow = `
max_visits: 3
nodes:
  start: { type: transform, params: { script: "return 0" }, next: tick }
  tick: { type: transform, params: { script: "return (input ?? 0) + 1" }, next: again }
  again:
    type: condition
    params: { conditions: [{ condition: "true", action: loop }] }
    next: { loop: tick }
`;
      const h = harness("cycle", { spin: flow });
      const id = await h.start("spin", 0);
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "failed");
      assert.equal(run.error?.code, "VISIT_LIMIT_EXCEEDED");
      assert.match(run.error?.message ?? "", /Node "tick" .* more than 3 times/);
      assert.deepEqual(
        (await h.steps(id)).map((s) => s.name),
        ["start", "tick", "again", "tick#2", "again#2", "tick#3", "again#3"],
      );
    });

    it("loops through a bounded cycle and ends when the condition routes out", async () => {
      const flow = `
nodes:
  start: { type: transform, params: { script: "return input" }, next: tick }
  tick: { type: transform, params: { script: "return { n: input.n + 1 }" }, next: again }
  again:
    type: condition
    params: { conditions: [{ condition: "input.n < 4", action: loop }] }
    next: { loop: tick }
`;
      const h = harness("loop", { loop: flow });
      const id = await h.start("loop", { n: 0 });
      await h.worker.drain();
      assert.deepEqual((await h.run(id)).output, { n: 4 });
    });

    it("resumes after a crash mid-flow without re-running completed nodes", async () => {
      const flow = `
nodes:
  first: { type: test.count, params: { key: "crash-first" }, next: slow }
  slow: { type: test.gate, params: { key: "crash-slow" }, next: last }
  last: { type: test.count, params: { key: "crash-last", value: "${"$"}{input.key}" } }
`
        .replaceAll("$" + "{", "${")
        .replaceAll("crash-", `${dialect}-`);
      const h = harness("crash", { crashy: flow });
      const gate = probe.gate(`${dialect}-slow`);
      const id = await h.start("crashy");
      const ticking = h.worker.tick();
      await gate.reached;
      h.worker.crash();
      await ticking;
      probe.gates.delete(`${dialect}-slow`); // The second worker's visit passes at once.
      h.clock.now += 11_000; // The crashed worker's lease has expired.
      const other = h.sibling();
      await other.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, { key: `${dialect}-last`, count: 1, value: `${dialect}-slow` });
      assert.equal(probe.count(`${dialect}-first`), 1, "the completed node did not run again");
      assert.equal(
        probe.count(`${dialect}-slow`),
        2,
        "the node in flight when the worker died ran again (at least once)",
      );
      gate.open(); // The dead worker's late result is fenced off.
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(
        (await h.steps(id)).map((s) => [s.name, s.attempt]),
        [
          ["first", 1],
          ["slow", 1],
          ["last", 1],
        ],
      );
    });

    it("a retried run re-runs only the failed node; retry from a step re-runs from that node", async () => {
      const flow = `
steps:
  - id: first
    type: test.count
    with: { key: "retry-first-${"$"}{run.id}" }
  - id: flaky
    type: transform
    with: { script: "if (run.attempt < 2) throw new Error('not yet'); return 'ok on attempt ' + run.attempt" }
`;
      const h = harness("rerun", { rerun: flow });
      const id = await h.start("rerun");
      await h.worker.drain();
      assert.equal((await h.run(id)).status, "failed");
      await h.store.retryRun({ namespace: h.namespace, id });
      await h.worker.drain();
      assert.equal((await h.run(id)).output, "ok on attempt 2");
      assert.equal(probe.count(`retry-first-${id}`), 1, "the completed node was not run again");

      const again = await h.start("rerun");
      await h.worker.drain();
      await h.store.retryRun({ namespace: h.namespace, id: again, fromStep: "first" });
      await h.worker.drain();
      assert.equal((await h.run(again)).output, "ok on attempt 2");
      assert.equal(probe.count(`retry-first-${again}`), 2, "retrying from a node runs it again");
    });

    it("fails expressions that try to escape the sandbox cleanly, and keeps working", async () => {
      const attempts = {
        process: "return process.exit(1)",
        require: "return require('fs').readFileSync('/etc/passwd', 'utf8')",
        constructor: "return (function(){}).constructor('return globalThis.process')().pid",
        loop: "while (true) {}",
        memory: "const a = []; while (true) a.push('x'.repeat(1e6));",
      };
      const flows = Object.fromEntries(
        Object.entries(attempts).map(([name, script]) => [
          name,
          `nodes:\n  evil:\n    type: transform\n    params:\n      script: ${JSON.stringify(script)}\n`,
        ]),
      );
      const h = harness("escape", {
        ...flows,
        fine: "nodes:\n  ok: { type: transform, params: { script: 'return 42' } }\n",
      });
      const ids = Object.fromEntries(await Promise.all(Object.keys(attempts).map(async (n) => [n, await h.start(n)])));
      await h.worker.drain();
      for (const [name, id] of Object.entries(ids)) {
        const run = await h.run(id as string);
        assert.equal(run.status, "failed", name);
        assert.equal(run.error?.code, "EXPRESSION_FAILED", `${name}: ${run.error?.message}`);
      }
      assert.match((await h.run(ids.loop as string)).error?.message ?? "", /did not finish within/);
      assert.match((await h.run(ids.memory as string)).error?.message ?? "", /out of memory/);
      assert.match((await h.run(ids.process as string)).error?.message ?? "", /'process' is not defined/);
      const fine = await h.start("fine");
      await h.worker.drain();
      assert.equal((await h.run(fine)).output, 42);
    });

    it("rejects input that does not match params with INVALID_INPUT naming the fields", async () => {
      const flow = `
params:
  type: object
  required: [order_id]
  properties:
    order_id: { type: string }
    amount: { type: number, minimum: 0 }
    currency: { type: string, default: EUR }
nodes:
  echo: { type: transform, params: { script: "return input" } }
`;
      const h = harness("input", { typed: flow });
      const bad = await h.start("typed", { amount: -1 });
      const good = await h.start("typed", { order_id: "o-1", amount: 5 });
      await h.worker.drain();
      const failed = await h.run(bad);
      assert.equal(failed.status, "failed");
      assert.equal(failed.error?.code, "INVALID_INPUT");
      assert.match(failed.error?.message ?? "", /input\.order_id: missing \(expected a string\)/);
      assert.match(failed.error?.message ?? "", /input\.amount: expected a number of at least 0, got -1/);
      assert.deepEqual((await h.run(good)).output, { order_id: "o-1", amount: 5, currency: "EUR" });
    });

    it("skips a node whose when is false and passes its input on", async () => {
      const flow = `
steps:
  - id: maybe
    type: transform
    when: "input.vip"
    params: { script: "return { ...input, discount: 10 }" }
  - id: after
    type: transform
    params: { script: "return { discount: input.discount ?? 0, skipped: nodes.maybe.status }" }
`;
      const h = harness("when", { when: flow });
      const vip = await h.start("when", { vip: true });
      const plain = await h.start("when", { vip: false });
      await h.worker.drain();
      assert.deepEqual((await h.run(vip)).output, { discount: 10, skipped: "completed" });
      assert.deepEqual((await h.run(plain)).output, { discount: 0, skipped: "skipped" });
    });
  },
);

it("refuses to compile a flow whose node types this worker cannot run", async () => {
  const flow = loadFlow("nodes:\n  a: { type: acme.ping }\n", {
    code: deps.sandbox,
    nodeTypes: new Map([...deps.nodeTypes, ["acme.ping", { type: "acme.ping" }]]),
  });
  assert.throws(
    () => createFlowWorkflow(flow, deps),
    (e: unknown) => e instanceof KilnError && e.code === "INVALID_CONFIG" && /acme\.ping/.test(e.message),
  );
});
