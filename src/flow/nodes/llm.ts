import { KilnError } from "../../errors.ts";
import type { NodeContext, StepNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";

/** The worker's model endpoint: defaults of every llm node (params override them). */
export interface LlmSettings {
  /** An OpenAI-compatible API base, e.g. `https://api.openai.com/v1` or a local server's `/v1`. */
  readonly baseUrl?: string;
  readonly apiKey?: string;
  readonly model?: string;
  readonly timeoutMs?: number;
}

const RULES: ParamRules = {
  prompt: { kind: "string" },
  system: { kind: "string" },
  messages: { kind: "array" },
  model: { kind: "string" },
  temperature: { kind: "number" },
  max_tokens: { kind: "integer" },
  json: { kind: "boolean" },
  base_url: { kind: "string" },
  api_key: { kind: "string" },
  timeout: { kind: "duration" },
};

const failure = (message: string, retryable: boolean, data: Record<string, unknown> = {}) =>
  new KilnError("LLM_REQUEST_FAILED", message, { retryable, data });

/** The chat messages of a visit: `messages` as given, else `system` + `prompt`. */
function chatMessages(read: ReturnType<typeof paramReader>): unknown[] {
  const messages = read.list("messages");
  if (messages !== undefined) return [...messages];
  const prompt = read.string("prompt");
  if (prompt === undefined) throw new KilnError("INVALID_INPUT", 'An llm node needs "prompt" or "messages"');
  const system = read.string("system");
  return [...(system === undefined ? [] : [{ role: "system", content: system }]), { role: "user", content: prompt }];
}

async function callModel(params: Readonly<Record<string, unknown>>, ctx: NodeContext) {
  const read = paramReader("llm", params);
  const settings = ctx.services.llm ?? {};
  const baseUrl = read.string("base_url") ?? settings.baseUrl;
  const model = read.string("model") ?? settings.model;
  if (baseUrl === undefined || model === undefined) {
    throw new KilnError(
      "INVALID_CONFIG",
      "An llm node needs a model endpoint: give base_url and model, or configure the worker's llm settings",
    );
  }
  const apiKey = read.string("api_key") ?? settings.apiKey;
  const json = read.boolean("json") ?? false;
  const temperature = read.number("temperature");
  const maxTokens = read.number("max_tokens");
  const timeoutMs = read.duration("timeout") ?? settings.timeoutMs ?? 120_000;
  const request = {
    model,
    messages: chatMessages(read),
    ...(temperature === undefined ? {} : { temperature }),
    ...(maxTokens === undefined ? {} : { max_tokens: maxTokens }),
    ...(json ? { response_format: { type: "json_object" } } : {}),
  };
  const url = `${baseUrl.replace(/\/+$/, "")}/chat/completions`;
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
  let response: Response;
  let text: string;
  try {
    response = await (ctx.services.fetch ?? globalThis.fetch)(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(apiKey === undefined || apiKey === "" ? {} : { authorization: `Bearer ${apiKey}` }),
      },
      body: JSON.stringify(request),
      signal,
    });
    text = await response.text();
  } catch (error) {
    const timedOut = signal.aborted && !ctx.signal.aborted;
    const detail = timedOut ? `no answer within ${timeoutMs} ms` : (error as Error).message;
    throw failure(`The model endpoint ${url} failed: ${detail}`, true, { reason: timedOut ? "timeout" : "network" });
  }
  if (!response.ok) {
    const retryable = response.status === 408 || response.status === 429 || response.status >= 500;
    throw failure(`The model endpoint answered ${response.status}: ${text.slice(0, 500)}`, retryable, {
      status: response.status,
    });
  }
  let answer: {
    model?: string;
    choices?: { message?: { role?: string; content?: string | null }; finish_reason?: string }[];
    usage?: unknown;
  };
  try {
    answer = JSON.parse(text);
  } catch {
    throw failure(`The model endpoint did not answer JSON: ${text.slice(0, 200)}`, true);
  }
  const choice = answer.choices?.[0];
  const content = choice?.message?.content;
  if (typeof content !== "string") throw failure("The model's answer has no message content", true);
  let parsed: unknown;
  if (json) {
    try {
      parsed = JSON.parse(content);
    } catch {
      // A model that ignores the JSON format may do better on the next attempt.
      throw failure(`The model did not answer JSON: ${content.slice(0, 200)}`, true);
    }
  }
  return {
    text: content,
    ...(json ? { json: parsed } : {}),
    model: answer.model ?? model,
    finish_reason: choice?.finish_reason ?? null,
    usage: answer.usage ?? null,
  };
}

/**
 * `llm`: one chat completion from an OpenAI-compatible endpoint (`base_url`, `model`, `api_key`,
 * usually `${secrets.…}`, over the worker's llm settings): `prompt` (+ `system`) or `messages`,
 * `temperature`, `max_tokens`, `json` (ask for and parse a JSON answer). The output is
 * `{ text, json?, model, finish_reason, usage }`.
 */
export const llmNode: StepNodeType = {
  type: "llm",
  kind: "step",
  description: "Calls a language model (OpenAI-compatible chat completions)",
  checkParams: (params) => {
    const problems = checkParamRules("llm", RULES, params);
    if (!Object.hasOwn(params, "prompt") && !Object.hasOwn(params, "messages")) {
      problems.push({ path: [], message: 'An llm node needs "prompt" or "messages"' });
    }
    return problems;
  },
  run: callModel,
};
