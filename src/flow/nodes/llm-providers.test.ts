// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { type ModelStub, startModelStub } from "../../../tests/support/model-stub.ts";
import { createFlowDeps, type OwnedFlowDeps } from "../run/flow-deps.ts";
import { describeOnStores } from "../../../tests/support/flow-helpers.ts";

let stub: ModelStub;
let deps: OwnedFlowDeps;

before(async () => {
  stub = await startModelStub();
  deps = await createFlowDeps({
    resolveSecret: (name) => ({ ANTHROPIC_KEY: "sk-ant-secret-1", OPENAI_KEY: "sk-oai-secret-2" })[name],
  });
});
after(async () => {
  await stub.close();
  deps.dispose();
});

describeOnStores(
  "llm providers",
  () => deps,
  ({ harness }) => {
    for (const provider of ["anthropic", "openai"] as const) {
      it(`${provider}: streams the answer into the run log, records token usage on the step, never stores the key`, async () => {
        const base = provider === "anthropic" ? stub.url : `${stub.url}/v1`;
        const key = provider === "anthropic" ? "ANTHROPIC_KEY" : "OPENAI_KEY";
        const flow = `
nodes:
  ask:
    type: llm
    params:
      provider: ${provider}
      base_url: "${base}"
      model: stub-model
      api_key: "\${secrets.${key}}"
      system: Be brief
      prompt: "\${input.who}"
`;
        stub.respond = (ask) => ({ text: `Dear ${ask.prompt},\nthe answer from ${ask.provider} is 42.` });
        const h = harness(`llm-${provider}`, { ask: flow });
        const before = stub.requests.length;
        const id = await h.start("ask", { who: "reader" });
        await h.worker.drain();
        const run = await h.run(id);
        assert.equal(run.status, "completed", JSON.stringify(run.error));
        const output = run.output as { text: string; usage: Record<string, number>; provider: string };
        assert.equal(output.text, `Dear reader,\nthe answer from ${provider} is 42.`);
        assert.equal(output.provider, provider);
        const request = stub.requests[before];
        assert.equal(request?.path, provider === "anthropic" ? "/v1/messages" : "/v1/chat/completions");
        const body = request?.body as { stream: boolean; system?: string };
        assert.equal(body.stream, true);
        if (provider === "anthropic") {
          // The SDK sends the key as x-api-key or (newer versions) as a bearer token.
          const sent = request?.headers["x-api-key"] ?? request?.headers.authorization?.replace(/^Bearer /, "");
          assert.equal(sent, "sk-ant-secret-1");
          assert.equal(body.system, "Be brief");
        } else assert.equal(request?.headers.authorization, "Bearer sk-oai-secret-2");
        // The stub counts 10 input tokens per message and one output token per space-separated piece.
        const messages = provider === "anthropic" ? 1 : 2;
        assert.deepEqual(output.usage, {
          input_tokens: 10 * messages,
          output_tokens: 7,
          total_tokens: 10 * messages + 7,
        });
        const [step] = await h.steps(id);
        assert.deepEqual((step?.output as { output: { usage: unknown } } | undefined)?.output.usage, output.usage);
        const logs = (await h.logs(id)).map((l) => l.message);
        assert.ok(logs.includes("ask: Dear reader,"), logs.join("\n"));
        assert.ok(logs.includes(`ask: the answer from ${provider} is 42.`), logs.join("\n"));
        const stored = await h.stored(id);
        assert.ok(!stored.includes("sk-ant-secret-1") && !stored.includes("sk-oai-secret-2"));
      });
    }

    it("anthropic without streaming, and an endpoint error is LLM_REQUEST_FAILED with the status", async () => {
      const flow = (model: string) => `
nodes:
  ask:
    type: llm
    params: { provider: anthropic, base_url: "${stub.url}", model: ${model}, prompt: hi, stream: false, json: true }
    retry: { max_attempts: 1 }
`;
      stub.respond = (ask) => (ask.model === "broken" ? { text: "not json" } : { text: '{"ok":true}' });
      const h = harness("llm-plain", { good: flow("good"), broken: flow("broken") });
      const good = await h.start("good");
      const broken = await h.start("broken");
      await h.worker.drain();
      const run = await h.run(good);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      assert.deepEqual((run.output as { json: unknown }).json, { ok: true });
      const failed = await h.run(broken);
      assert.equal(failed.status, "failed");
      assert.equal(failed.error?.code, "LLM_REQUEST_FAILED");
      assert.match(failed.error?.message ?? "", /did not answer JSON/);
      const last = stub.requests.filter((r) => r.path === "/v1/messages").at(-1)?.body as {
        stream?: boolean;
        system: string;
      };
      assert.equal(last.stream, undefined);
      assert.match(last.system, /JSON object/);
    });
  },
);
