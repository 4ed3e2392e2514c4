// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { type ModelStub, startModelStub } from "../../../tests/support/model-stub.ts";
import { type LazyVectorStore, lazyVectorStore } from "../../store/open-vector-store.ts";
import { createFlowDeps, type OwnedFlowDeps } from "../run/flow-deps.ts";
import { describeOnStores } from "../../../tests/support/flow-helpers.ts";

let stub: ModelStub;
let deps: OwnedFlowDeps;
let bare: OwnedFlowDeps;
let vectors: LazyVectorStore;
const dir = mkdtempSync(join(tmpdir(), "kiln-rag-"));

before(async () => {
  stub = await startModelStub();
  vectors = lazyVectorStore(join(dir, "kiln.db"));
  deps = await createFlowDeps({ services: { vectors } });
  bare = await createFlowDeps();
});
after(async () => {
  await stub.close();
  await vectors.close();
  deps.dispose();
  bare.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const DOCS = [
  { id: "kiln-steps", text: "Kiln records every step of a workflow run durably" },
  { id: "kiln-flows", text: "Flows are written in YAML with nodes and edges" },
  { id: "bread", text: "Sourdough bread needs flour water salt and patience" },
];

describeOnStores(
  "rag nodes",
  () => deps,
  ({ harness, dialect }) => {
    it("embed + vector.upsert index documents; vector.query finds the nearest (OpenAI-compatible and local embeddings)", async () => {
      const flow = (provider: string, base: string) => `
nodes:
  embed:
    type: embed
    params: { provider: ${provider}, base_url: "${base}", model: stub-embed, input: "\${input.docs.map(d => d.text)}" }
    next: store
  store:
    type: vector.upsert
    params: { collection: "docs-${provider}-${dialect}", items: "\${flow.input.docs}", vectors: "\${nodes.embed.output.embeddings}" }
    next: ask
  ask:
    type: embed
    params: { provider: ${provider}, base_url: "${base}", model: stub-embed, input: "\${flow.input.question}" }
    next: find
  find:
    type: vector.query
    params: { collection: "docs-${provider}-${dialect}", vector: "\${nodes.ask.output.embeddings[0]}", top_k: 2 }
`;
      const h = harness("rag-index", { openai: flow("openai", `${stub.url}/v1`), local: flow("local", stub.url) });
      for (const name of ["openai", "local"]) {
        const id = await h.start(name, { docs: DOCS, question: "How does a workflow run record each step?" });
        await h.worker.drain();
        const run = await h.run(id);
        assert.equal(run.status, "completed", JSON.stringify(run.error));
        const output = run.output as { matches: { id: string; score: number }[]; store: string };
        assert.equal(output.matches.length, 2);
        assert.equal(output.matches[0]?.id, "kiln-steps");
        assert.match(output.store, /^sqlite-vec /);
        const steps = await h.steps(id);
        const embed = steps.find((s) => s.name === "embed")?.output as { output: { dimensions: number } } | undefined;
        assert.equal(embed?.output.dimensions, 16);
      }
      assert.ok(stub.calls("/v1/embeddings").length >= 2 && stub.calls("/api/embed").length >= 2);
    });

    it("rag.answer answers from the nearest chunks and lists the ids it cites", async () => {
      const flow = `
nodes:
  index:
    type: embed
    params: { base_url: "${stub.url}/v1", model: stub-embed, input: "\${input.docs.map(d => d.text)}" }
    next: store
  store:
    type: vector.upsert
    params: { collection: "kb-${dialect}", items: "\${flow.input.docs}", vectors: "\${nodes.index.output.embeddings}" }
    next: answer
  answer:
    type: rag.answer
    params:
      question: "\${flow.input.question}"
      collection: "kb-${dialect}"
      top_k: 2
      embed: { base_url: "${stub.url}/v1", model: stub-embed }
      provider: anthropic
      base_url: "${stub.url}"
      model: stub-model
`;
      // The stub's model cites the first source it was given, and an id it was not given.
      stub.respond = (ask) => {
        const first = /\[([^\]]+)\]/.exec(ask.prompt)?.[1] ?? "none";
        return { text: `Every step is recorded durably [${first}]. See also [made-up].` };
      };
      const h = harness("rag-answer", { rag: flow });
      const id = await h.start("rag", { docs: DOCS, question: "How does a workflow run record each step?" });
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.status, "completed", JSON.stringify(run.error));
      const output = run.output as {
        text: string;
        citations: string[];
        chunks: { id: string }[];
        usage: { total_tokens: number };
      };
      assert.deepEqual(output.citations, ["kiln-steps"]);
      assert.deepEqual(output.chunks.map((c) => c.id).length, 2);
      assert.equal(output.chunks[0]?.id, "kiln-steps");
      assert.ok(output.usage.total_tokens > 0);
      const asked = stub.calls("/v1/messages").at(-1)?.body as { system: string; messages: { content: string }[] };
      assert.match(asked.system, /cite the sources/);
      assert.match(asked.messages[0]?.content ?? "", /\[kiln-steps\] Kiln records every step/);
    });
  },
);

describeOnStores(
  "vector nodes without a database",
  () => bare,
  ({ harness }) => {
    it("fail with VECTOR_STORE_UNAVAILABLE naming where they can run", async () => {
      const h = harness("rag-bare", {
        q: `
nodes:
  find:
    type: vector.query
    params: { collection: docs, vector: [1, 0] }
`,
      });
      const id = await h.start("q");
      await h.worker.drain();
      const run = await h.run(id);
      assert.equal(run.error?.code, "VECTOR_STORE_UNAVAILABLE");
      assert.match(run.error?.message ?? "", /kiln worker --db/);
    });
  },
);
