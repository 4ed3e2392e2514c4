// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { createFlowDeps, type OwnedFlowDeps } from "../run/flow-deps.ts";
import {
  describeOnStores,
  json,
  startHttpServer,
  TestProbe,
  type TestServer,
} from "../../../tests/support/flow-helpers.ts";

const probe = new TestProbe();
let deps: OwnedFlowDeps;
let http: TestServer;
before(async () => {
  http = await startHttpServer((request, body, response) => {
    const url = new URL(request.url ?? "/", "http://x");
    if (url.pathname === "/v1/chat/completions") {
      const asked = JSON.parse(body) as { messages: { content: string }[]; response_format?: unknown };
      const prompt = asked.messages[asked.messages.length - 1]?.content ?? "";
      const content = asked.response_format ? JSON.stringify({ words: prompt.split(" ").length }) : `echo: ${prompt}`;
      return json(response, 200, {
        model: "fake-1",
        choices: [{ message: { role: "assistant", content }, finish_reason: "stop" }],
        usage: { total_tokens: 7 },
      });
    }
    if (url.pathname.startsWith("/items/")) return json(response, 200, { id: url.pathname.slice(7) });
    json(response, 404, { error: "nope" });
  });
  deps = await createFlowDeps({
    nodeTypes: probe.nodeTypes(),
    resolveSecret: (name) => ({ LLM_KEY: "sk-llm-999" })[name],
    services: {
      llm: { baseUrl: `${http.url}/v1`, model: "fake-1" },
    },
  });
});
after(async () => {
  await http.close();
  deps.dispose();
});

describeOnStores(
  "node library",
  () => deps,
  ({ harness }) => {
    it("for_each runs step items at most `concurrency` at a time and keeps item order", async () => {
      const flow = `
nodes:
  each:
    type: for_each
    params:
      items: "\${input.list}"
      concurrency: 2
      do: { type: test.busy, params: { ms: 15 } }
`;
      const h = harness("foreach", { each: flow });
      probe.maxActive = 0;
      const id = await h.start("each", { list: [1, 2, 3, 4, 5, 6] });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, [1, 2, 3, 4, 5, 6]);
      assert.equal(probe.maxActive, 2);
      assert.deepEqual(
        (await h.steps(id)).map((s) => s.name),
        ["each[0]", "each[1]", "each[2]", "each[3]", "each[4]", "each[5]"],
      );
    });

    it("for_each over child tasks in chunks; two for_each nodes side by side replay in a stable order", async () => {
      const flow = `
nodes:
  start: { type: transform, params: { script: "return input" }, next: [squares, cubes] }
  squares:
    type: for_each
    params: { items: "\${input}", concurrency: 2, do: { type: task, params: { kind: square } } }
  cubes:
    type: for_each
    params: { items: "\${input}", concurrency: 3, do: { type: task, params: { kind: cube } } }
  both:
    type: transform
    needs: [squares, cubes]
    params: { script: "return input" }
`;
      const h = harness(
        "chunks",
        { chunks: flow },
        {
          tasks: { square: (n: number) => n * n, cube: (n: number) => n * n * n },
        },
      );
      const id = await h.start("chunks", [1, 2, 3, 4, 5]);
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, { squares: [1, 4, 9, 16, 25], cubes: [1, 8, 27, 64, 125] });
      const children = await h.store.listRuns({ namespace: h.namespace, parentRunId: id });
      assert.equal(children.runs.length, 10);
    });

    it("for_each with continue_on_error keeps going and reports failed items as { error }", async () => {
      const flow = `
nodes:
  each:
    type: for_each
    params:
      items: [ok, bad, ok2]
      continue_on_error: true
      do: { type: transform, params: { script: "if (input === 'bad') throw new Error('bad item'); return input" } }
`;
      const h = harness("continue", { each: flow });
      const id = await h.start("each");
      await h.worker.drain();
      const output = (await h.run(id)).output as unknown[];
      assert.equal(output[0], "ok");
      assert.equal(output[2], "ok2");
      assert.match(JSON.stringify(output[1]), /bad item/);
    });

    it("parallel runs named branches at once; the output maps branch to result", async () => {
      const flow = `
nodes:
  fan:
    type: parallel
    params:
      branches:
        item: { type: http.request, params: { url: "${http.url}/items/\${input.id}" } }
        twice: { type: transform, params: { script: "return input.id * 2" } }
`;
      const h = harness("parallel", { fan: flow });
      const id = await h.start("fan", { id: 21 });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      const output = run.output as { item: { body: unknown }; twice: number };
      assert.deepEqual(output.item.body, { id: "21" });
      assert.equal(output.twice, 42);
      assert.deepEqual((await h.steps(id)).map((s) => s.name).sort(), ["fan.item", "fan.twice"]);
    });

    it("sleep parks the run durably; wait_for_event delivers a correlated event's payload", async () => {
      const flow = `
steps:
  - id: pause
    type: sleep
    params: { duration: 5m }
  - id: approval
    type: wait_for_event
    params: { event: order.approved, key: "\${flow.input.order}", timeout: 1h }
  - id: done
    type: transform
    params: { script: "return { approvedBy: input.by, order: flow.input.order }" }
`;
      const h = harness("waits", { waits: flow });
      const id = await h.start("waits", { order: "o-7" });
      await h.worker.drain();
      assert.equal((await h.run(id)).status, "sleeping");
      h.clock.now += 5 * 60_000;
      await h.worker.drain();
      assert.equal((await h.run(id)).status, "waiting");
      await h.store.sendEvent({ namespace: h.namespace, name: "order.approved", key: "o-7", payload: { by: "ada" } });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual(run.output, { approvedBy: "ada", order: "o-7" });
      assert.deepEqual(
        (await h.steps(id)).map((s) => [s.name, s.type]),
        [
          ["pause", "sleep"],
          ["approval", "event"],
          ["done", "step"],
        ],
      );
    });

    it("an event wait that times out follows the error route", async () => {
      const flow = `
nodes:
  wait:
    type: wait_for_event
    params: { event: never.comes, timeout: 10m }
    next: { default: yes, error: timedout }
  yes: { type: transform, params: { script: "return 'got it'" } }
  timedout: { type: transform, params: { script: "return input.code" } }
`;
      const h = harness("evtimeout", { wait: flow });
      const id = await h.start("wait");
      await h.worker.drain();
      h.clock.now += 10 * 60_000;
      await h.worker.drain();
      assert.equal((await h.run(id)).output, "EVENT_TIMEOUT");
    });

    it("task and workflow nodes run child runs; a failed child follows the error route", async () => {
      const parent = `
nodes:
  charge:
    type: task
    params: { kind: charge, input: { amount: "\${input.amount}" } }
    next: { default: receipt, error: declined }
  receipt:
    type: workflow
    params: { name: receipt, input: { paid: "\${input.paid}" } }
  declined: { type: transform, params: { script: "return { declined: input.code }" } }
`;
      const receipt = `
nodes:
  format: { type: transform, params: { script: "return 'paid ' + input.paid" } }
`;
      const h = harness(
        "children",
        { parent, receipt },
        {
          tasks: {
            charge: (input: { amount: number }) => {
              if (input.amount > 100) throw new Error("card declined");
              return { paid: input.amount };
            },
          },
        },
      );
      const ok = await h.start("parent", { amount: 30 });
      const declined = await h.start("parent", { amount: 500 });
      await h.worker.drain();
      assert.equal((await h.run(ok)).output, "paid 30");
      assert.deepEqual((await h.run(declined)).output, { declined: "CHILD_FAILED" });
      const steps = await h.steps(ok);
      assert.deepEqual(
        steps.map((s) => [s.name, s.type]),
        [
          ["charge", "child"],
          ["receipt", "child"],
        ],
      );
    });

    it("script runs inline shell with the input as env vars only; a failure follows the error route", async () => {
      const marker = join(mkdtempSync(join(tmpdir(), "kiln-flow-")), "pwned");
      const flow = `
nodes:
  greet:
    type: script
    params:
      run: 'echo "hello $INPUT_NAME"; echo "::set-output key=len::\${#INPUT_NAME}"'
    next: fail
  fail:
    type: run
    params: { run: "echo oops >&2; exit 3", input: { n: 1 } }
    next: { error: recover }
  recover: { type: transform, params: { script: "return { code: input.code, greeted: nodes.greet.output }" } }
`;
      const h = harness("script", { script: flow });
      const id = await h.start("script", { name: `$(touch ${marker})` });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      const output = run.output as { code: string; greeted: { stdout: string; len: string } };
      assert.equal(output.greeted.stdout, `hello $(touch ${marker})`);
      assert.equal(output.greeted.len, String(`$(touch ${marker})`.length));
      assert.equal(output.code, "EXEC_FAILED");
      assert.equal(existsSync(marker), false, "input never reached the shell as code");
    });

    it("llm calls an OpenAI-compatible endpoint; json: true parses the answer", async () => {
      const flow = `
nodes:
  ask:
    type: llm
    params: { prompt: "Summarize \${input.topic}", api_key: "\${secrets.LLM_KEY}", temperature: 0 }
    next: count
  count:
    type: llm
    params: { system: "Count words", prompt: "\${input.text}", json: true }
`;
      const h = harness("llm", { llm: flow });
      const requests = http.requests.length;
      const id = await h.start("llm", { topic: "flows" });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual((run.output as { json: unknown }).json, { words: 3 });
      assert.equal(http.requests[requests]?.headers.authorization, "Bearer sk-llm-999");
      const steps = await h.steps(id);
      const first = steps[0]?.output as { output: { text: string } } | undefined;
      assert.equal(first?.output.text, "echo: Summarize flows");
    });

    it("compensates step nodes and child runs in reverse order when a later node fails", async () => {
      const flow = `
nodes:
  reserve:
    type: test.count
    params: { key: "reserve-\${run.id}" }
    compensate: { type: test.count, params: { key: "unreserve-\${run.id}" } }
    next: book
  book:
    type: task
    params: { kind: book }
    compensate: { type: test.count, params: { key: "unbook-\${run.id}-\${input.booking}" } }
    next: pay
  pay: { type: transform, params: { script: "throw new Error('payment failed')" } }
`;
      const h = harness("saga", { saga: flow }, { tasks: { book: () => ({ booking: "B7" }) } });
      const id = await h.start("saga");
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "compensated", JSON.stringify(run.error));
      assert.equal(probe.count(`unreserve-${id}`), 1);
      assert.equal(probe.count(`unbook-${id}-B7`), 1);
      const compensations = (await h.steps(id)).filter((s) => s.type === "compensation").map((s) => s.name);
      assert.deepEqual(compensations.sort(), ["compensate:book:done", "compensate:reserve"]);
    });
  },
);

it("http.request gives up after its own timeout with a retryable HTTP_REQUEST_FAILED", async () => {
  const { Sandbox } = await import("../expressions/sandbox.ts");
  const sandbox = await Sandbox.create();
  try {
    const { httpRequestNode } = await import("./http-request.ts");
    const slow = await startHttpServer(() => new Promise(() => {}));
    try {
      await assert.rejects(
        Promise.resolve(
          httpRequestNode.run(
            { url: `${slow.url}/hang`, timeout: "50ms" },
            {
              nodeId: "slow",
              stepName: "slow",
              input: null,
              run: { id: "r", name: "f", namespace: "n", attempt: 1, version: null },
              signal: new AbortController().signal,
              timeoutMs: null,
              idempotencyKey: "r/slow",
              options: {},
              services: {},
              sandbox,
              scope: {},
              rawParams: {},
              log: () => {},
              setAction: () => {},
            },
          ),
        ),
        (e: unknown) => e instanceof Error && /no response within 50 ms/.test(e.message),
      );
    } finally {
      await slow.close();
    }
  } finally {
    sandbox.dispose();
  }
});
