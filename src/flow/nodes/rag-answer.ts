import type { VectorMatch } from "../../store/vector-store.ts";
import { chat, chatEndpoint, MODEL_PARAM_RULES } from "./chat-model.ts";
import { EMBED_ENDPOINT_RULES, embedEndpoint, embedTexts } from "./embeddings.ts";
import type { StepNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";
import { TextLog } from "./text-log.ts";
import { topK, vectorStoreOf } from "./vector-nodes.ts";

const RULES: ParamRules = {
  question: { kind: "string", required: true, description: "the question to answer" },
  collection: { kind: "string", required: true, description: "the collection of chunks, in the run's namespace" },
  top_k: { kind: "integer", description: "how many nearest chunks the model reads, 1 to 100 (default 5)" },
  embed: {
    kind: "object",
    required: true,
    description: "the embeddings endpoint of the question, as the embed node's params",
    fields: EMBED_ENDPOINT_RULES,
  },
  system: { kind: "string", description: "extra system prompt, before the citing instructions" },
  ...MODEL_PARAM_RULES,
};

/** What the model is told about the sources; the bracketed ids are what citations are read from. */
const INSTRUCTIONS =
  "Answer the question using only the sources below. After each statement, cite the sources it comes from by their id in square brackets, like [id]. If the sources do not contain the answer, say so.";

/** The ids of `chunks` the answer cites as `[id]` (or `[id1, id2]`), in order of first citation. */
export function citedIds(text: string, chunks: readonly VectorMatch[]): string[] {
  const known = new Set(chunks.map((c) => c.id));
  const cited: string[] = [];
  for (const match of text.matchAll(/\[([^\][]+)\]/g)) {
    for (const part of (match[1] as string).split(",")) {
      const id = part.trim();
      if (known.has(id) && !cited.includes(id)) cited.push(id);
    }
  }
  return cited;
}

/**
 * `rag.answer`: answers `question` from `collection`: embeds the question (`embed`: the embed
 * node's endpoint params), takes the `top_k` nearest chunks, and asks the model (the llm node's
 * endpoint params) to answer from them citing chunk ids. The output is `{ text, citations,
 * chunks, model, usage }`: `citations` are the ids of the chunks the answer cites.
 */
export const ragAnswerNode: StepNodeType = {
  type: "rag.answer",
  kind: "step",
  description: "Answers a question from a vector collection with an llm, citing the chunks used",
  params: RULES,
  checkParams: (params) => checkParamRules("rag.answer", RULES, params),
  async run(params, ctx) {
    const read = paramReader("rag.answer", params);
    const question = read.requiredString("question");
    const collection = read.requiredString("collection");
    const limit = topK("rag.answer", read.number("top_k"));
    const endpoint = chatEndpoint("rag.answer", read, ctx.services);
    const embedder = embedEndpoint(
      "rag.answer",
      paramReader("rag.answer embed", read.record("embed") ?? {}),
      ctx.services,
    );
    const fetch = ctx.services.fetch === undefined ? {} : { fetch: ctx.services.fetch };
    const [vector] = (await embedTexts(embedder, [question], { signal: ctx.signal, ...fetch })).embeddings;
    const store = await vectorStoreOf("rag.answer", ctx.services);
    const chunks = await store.queryVectors({ namespace: ctx.run.namespace, collection, vector: vector ?? [], limit });
    ctx.log(`${chunks.length} chunk(s) from "${collection}": ${chunks.map((c) => c.id).join(", ")}`);
    const sources = chunks.map((c) => `[${c.id}] ${c.text ?? JSON.stringify(c.metadata)}`).join("\n\n");
    const system = read.string("system");
    const temperature = read.number("temperature");
    const maxTokens = read.number("max_tokens");
    const log = new TextLog((line) => ctx.log(line));
    const reply = await chat({
      endpoint,
      system: system === undefined ? INSTRUCTIONS : `${system}\n\n${INSTRUCTIONS}`,
      turns: [{ role: "user", content: `Sources:\n\n${sources}\n\nQuestion: ${question}` }],
      ...(temperature === undefined ? {} : { temperature }),
      ...(maxTokens === undefined ? {} : { maxTokens }),
      stream: read.boolean("stream") ?? true,
      signal: ctx.signal,
      ...fetch,
      onText: (delta) => log.push(delta),
    });
    log.flush();
    return {
      text: reply.text,
      citations: citedIds(reply.text, chunks),
      chunks: chunks.map((c) => ({ ...c, score: 1 - c.distance })),
      model: reply.model,
      usage: reply.usage,
    };
  },
};
