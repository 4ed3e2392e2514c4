import { KilnError } from "../../errors.ts";
import { chat, chatEndpoint, MODEL_PARAM_RULES } from "./chat-model.ts";
import type { ChatProvider } from "./chat-types.ts";
import { llmFailure } from "./llm-failure.ts";
import type { NodeContext, StepNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";
import { TextLog } from "./text-log.ts";

/** The worker's model endpoint: defaults of every llm node of that provider (params override them). */
export interface LlmSettings {
  /** Which wire format the endpoint speaks (default `openai`). */
  readonly provider?: ChatProvider;
  /** The API base, e.g. `https://api.openai.com/v1`, a local server's `/v1`, or an Anthropic gateway. */
  readonly baseUrl?: string;
  readonly apiKey?: string;
  readonly model?: string;
  readonly timeoutMs?: number;
}

const RULES: ParamRules = {
  prompt: { kind: "string", description: "the user message; this or messages is needed" },
  system: { kind: "string", description: "the system prompt" },
  messages: { kind: "array", description: "the chat turns ({ role, content }), instead of prompt" },
  json: { kind: "boolean", description: "ask for a JSON answer and parse it into the output's json" },
  ...MODEL_PARAM_RULES,
};

/** The chat messages of a visit: `messages` as given, else `prompt`. */
function chatMessages(read: ReturnType<typeof paramReader>): unknown[] {
  const messages = read.list("messages");
  if (messages !== undefined) return [...messages];
  const prompt = read.string("prompt");
  if (prompt === undefined) throw new KilnError("INVALID_INPUT", 'An llm node needs "prompt" or "messages"');
  return [{ role: "user", content: prompt }];
}

async function callModel(params: Readonly<Record<string, unknown>>, ctx: NodeContext) {
  const read = paramReader("llm", params);
  const endpoint = chatEndpoint("llm", read, ctx.services);
  const json = read.boolean("json") ?? false;
  const temperature = read.number("temperature");
  const maxTokens = read.number("max_tokens");
  const system = read.string("system");
  const stream = new TextLog((line) => ctx.log(line));
  const reply = await chat({
    endpoint,
    turns: chatMessages(read),
    ...(system === undefined ? {} : { system }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(maxTokens === undefined ? {} : { maxTokens }),
    json,
    stream: read.boolean("stream") ?? true,
    signal: ctx.signal,
    ...(ctx.services.fetch === undefined ? {} : { fetch: ctx.services.fetch }),
    onText: (delta) => stream.push(delta),
  });
  stream.flush();
  const { usage } = reply;
  ctx.log(`${reply.model}: ${usage.input_tokens} input + ${usage.output_tokens} output tokens`);
  let parsed: unknown;
  if (json) {
    try {
      parsed = JSON.parse(reply.text);
    } catch {
      // A model that ignores the JSON format may do better on the next attempt.
      throw llmFailure(`The model did not answer JSON: ${reply.text.slice(0, 200)}`, true);
    }
  }
  return {
    text: reply.text,
    ...(json ? { json: parsed } : {}),
    model: reply.model,
    provider: endpoint.provider,
    finish_reason: reply.finish_reason,
    usage,
  };
}

/**
 * `llm`: one answer from a language model: an OpenAI-compatible chat completions endpoint
 * (`provider: openai`, the default) or Anthropic's Messages API (`provider: anthropic`), with
 * `base_url`, `model` and `api_key` (usually `${secrets.…}`) over the worker's llm settings.
 * `prompt` (+ `system`) or `messages`, `temperature`, `max_tokens`, `json` (ask for and parse a
 * JSON answer), `stream` (default true: the answer's lines reach the run log as they arrive).
 * The output is `{ text, json?, model, provider, finish_reason, usage }`, usage in tokens.
 */
export const llmNode: StepNodeType = {
  type: "llm",
  kind: "step",
  description: "Calls a language model (OpenAI-compatible chat completions or Anthropic Messages)",
  params: RULES,
  checkParams: (params) => {
    const problems = checkParamRules("llm", RULES, params);
    if (!Object.hasOwn(params, "prompt") && !Object.hasOwn(params, "messages")) {
      problems.push({ path: [], message: 'An llm node needs "prompt" or "messages"' });
    }
    return problems;
  },
  run: callModel,
};
