import { EMBED_ENDPOINT_RULES, embedEndpoint, embedTexts } from "./embeddings.ts";
import type { StepNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";

const RULES: ParamRules = {
  input: { kind: ["string", "array"], required: true, description: "a text or a list of texts to embed" },
  ...EMBED_ENDPOINT_RULES,
};

/**
 * `embed`: embeds `input` (a text or a list of texts) with an OpenAI-compatible embeddings
 * endpoint or a local one (`provider: local`). The output is `{ embeddings, dimensions, model,
 * usage }`, one embedding per text in order, ready for `vector.upsert`'s `vectors`.
 */
export const embedNode: StepNodeType = {
  type: "embed",
  kind: "step",
  description: "Embeds texts (OpenAI-compatible or local embeddings endpoint); output { embeddings, dimensions }",
  params: RULES,
  checkParams: (params) => checkParamRules("embed", RULES, params),
  async run(params, ctx) {
    const read = paramReader("embed", params);
    const texts = read.stringList("input") ?? [];
    const endpoint = embedEndpoint("embed", read, ctx.services);
    const result = await embedTexts(endpoint, texts, {
      signal: ctx.signal,
      ...(ctx.services.fetch === undefined ? {} : { fetch: ctx.services.fetch }),
    });
    ctx.log(`${texts.length} text(s) embedded by ${result.model}`);
    return {
      embeddings: result.embeddings,
      dimensions: result.embeddings[0]?.length ?? 0,
      model: result.model,
      usage: { input_tokens: result.input_tokens },
    };
  },
};
