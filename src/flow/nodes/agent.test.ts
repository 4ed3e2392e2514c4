// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { type ModelStub, type StubAsk, startModelStub } from "../../../tests/support/model-stub.ts";
import { createFlowDeps, type OwnedFlowDeps } from "../run/flow-deps.ts";
import { describeOnStores } from "../../../tests/support/flow-helpers.ts";

let stub: ModelStub;
let deps: OwnedFlowDeps;

/** The stub's model: look the city up, then double the temperature, then answer with both results. */
function weatherModel(ask: StubAsk) {
  if (ask.toolResults.length === 0)
    return { text: "Let me look.", toolCalls: [{ name: "lookup", arguments: { city: "Paris" } }] };
  if (ask.toolResults.length === 1) return { toolCalls: [{ name: "double", arguments: { n: 21 } }] };
  return { text: `Done: ${ask.toolResults.join(" | ")}` };
}

before(async () => {
  stub = await startModelStub();
  stub.route = (request, response) => {
    if (request.path !== "/tools/lookup") return false;
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ city: (request.body as { city: string }).city, celsius: 21 }));
    return true;
  };
  deps = await createFlowDeps({ resolveSecret: (name) => ({ MODEL_KEY: "sk-agent-secret" })[name] });
});
after(async () => {
  await stub.close();
  deps.dispose();
});

const agentFlow = (provider: string, extra = "") => `
nodes:
  helper:
    type: agent
    params:
      provider: ${provider}
      base_url: "${stub.url}${provider === "openai" ? "/v1" : ""}"
      model: stub-model
      api_key: "\${secrets.MODEL_KEY}"
      system: You answer weather questions.
      prompt: "What is twice the temperature in \${input.city}?"
      ${extra}
      tools:
        - name: lookup
          description: The current weather of a city
          parameters: { type: object, properties: { city: { type: string } }, required: [city] }
          node:
            type: http.request
            params: { method: POST, url: "${stub.url}/tools/lookup", body: { city: "\${input.city}" } }
        - name: double
          description: Doubles a number
          workflow: double
`;

describeOnStores(
  "agent node",
  () => deps,
  ({ harness }) => {
    for (const provider of ["openai", "anthropic"]) {
      it(`${provider}: calls node and workflow tools as durable steps and records the transcript`, async () => {
        stub.respond = weatherModel;
        const h = harness(
          `agent-${provider}`,
          { ask: agentFlow(provider) },
          {
            code: { double: (input: { n: number }) => ({ doubled: input.n * 2 }) },
          },
        );
        const lookups = stub.calls("/tools/lookup").length;
        const id = await h.start("ask", { city: "Paris" });
        await h.worker.drain();
        const run = await h.run(id);
        assert.equal(run.status, "completed", JSON.stringify(run.error));
        const output = run.output as {
          text: string;
          iterations: number;
          usage: { total_tokens: number };
          transcript: { role: string }[];
        };
        assert.match(output.text, /^Done: \{"status":200,/);
        assert.match(output.text, /"celsius":21/);
        assert.match(output.text, /\{"doubled":42\}/);
        assert.equal(output.iterations, 3);
        assert.deepEqual(
          output.transcript.map((t) => t.role),
          ["user", "assistant", "tool", "assistant", "tool", "assistant"],
        );
        assert.ok(output.usage.total_tokens > 0);
        assert.equal(stub.calls("/tools/lookup").length, lookups + 1);
        const names = (await h.steps(id)).map((s) => s.name);
        for (const name of [
          "helper.model[0]",
          "helper.tool[0.0]",
          "helper.model[1]",
          "helper.tool[1.0]",
          "helper.model[2]",
        ]) {
          assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
        }
        const logs = (await h.logs(id)).map((l) => l.message);
        assert.ok(logs.includes('helper: tool lookup ← {"city":"Paris"}'), logs.join("\n"));
        assert.ok(logs.includes('helper: tool double → {"doubled":42}'), logs.join("\n"));
        assert.ok(logs.includes("helper: model: Let me look."), logs.join("\n"));
        assert.ok(!(await h.stored(id)).includes("sk-agent-secret"));
        const asked = stub.requests.filter((r) => r.path !== "/tools/lookup").at(-1);
        const key = asked?.headers["x-api-key"] ?? asked?.headers.authorization?.replace(/^Bearer /, "");
        assert.equal(key, "sk-agent-secret");
      });
    }

    it("stops with AGENT_MAX_ITERATIONS and AGENT_TOKEN_BUDGET", async () => {
      stub.respond = weatherModel;
      const h = harness(
        "agent-limits",
        {
          loops: agentFlow("openai", "max_iterations: 2"),
          greedy: agentFlow("anthropic", "token_budget: 15"),
        },
        { code: { double: (input: { n: number }) => ({ doubled: input.n * 2 }) } },
      );
      const loops = await h.start("loops", { city: "Oslo" });
      const greedy = await h.start("greedy", { city: "Rome" });
      await h.worker.drain();
      const a = await h.run(loops);
      assert.equal(a.error?.code, "AGENT_MAX_ITERATIONS", JSON.stringify(a.error));
      assert.match(a.error?.message ?? "", /after 2 model calls; raise max_iterations/);
      const b = await h.run(greedy);
      assert.equal(b.error?.code, "AGENT_TOKEN_BUDGET", JSON.stringify(b.error));
      assert.match(b.error?.message ?? "", /over its token_budget of 15/);
    });
  },
);
