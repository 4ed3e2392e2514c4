import { KilnError } from "../../errors.ts";
import { anthropicChat } from "./anthropic-chat.ts";
import {
  CHAT_PROVIDERS,
  type ChatEndpoint,
  type ChatProvider,
  type ChatReply,
  type ChatRequest,
} from "./chat-types.ts";
import type { LlmSettings } from "./llm.ts";
import type { FlowServices } from "./node-api.ts";
import { openaiChat } from "./openai-chat.ts";
import type { ParamRules, paramReader } from "./param-rules.ts";

/** The params every model-calling node (llm, agent, rag.answer) takes to choose its endpoint. */
export const MODEL_PARAM_RULES: ParamRules = {
  provider: {
    kind: "string",
    values: CHAT_PROVIDERS,
    description: "openai (chat completions) or anthropic (Messages API); default services.llm's provider, else openai",
  },
  model: { kind: "string", description: "the model name; needed here or in services.llm" },
  base_url: {
    kind: "string",
    description: "the API base, e.g. https://api.openai.com/v1; needed for openai here or in services.llm",
  },
  api_key: { kind: "string", description: "the API key, usually a secret (secrets.NAME); default services.llm's" },
  temperature: { kind: "number", description: "sampling temperature" },
  max_tokens: { kind: "integer", description: "the most tokens of the answer" },
  stream: { kind: "boolean", description: "stream the answer's lines to the run log as they arrive (default true)" },
  timeout: { kind: "duration", description: "per model request (default services.llm's, else 120s)" },
};

/** Default per-request time limit of a model call. */
const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * The endpoint of a model call: the node's params over the worker's `services.llm` settings. The
 * settings describe one provider's endpoint, so they apply only to nodes of that provider.
 */
export function chatEndpoint(
  type: string,
  read: ReturnType<typeof paramReader>,
  services: FlowServices,
  overrides: { readonly apiKey?: string } = {},
): ChatEndpoint {
  const settings: LlmSettings = services.llm ?? {};
  const provider = (read.string("provider") ?? settings.provider ?? "openai") as ChatProvider;
  if (!CHAT_PROVIDERS.includes(provider)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "provider" of ${type} to be one of ${CHAT_PROVIDERS.join(", ")}, got "${provider}"`,
    );
  }
  const defaults = (settings.provider ?? "openai") === provider ? settings : {};
  const baseUrl = read.string("base_url") ?? defaults.baseUrl;
  const model = read.string("model") ?? defaults.model;
  if (model === undefined || (provider === "openai" && baseUrl === undefined)) {
    throw new KilnError(
      "INVALID_CONFIG",
      `A ${type} node needs a model endpoint: give ${provider === "openai" ? "base_url and model" : "model"}, or configure the worker's services.llm settings`,
    );
  }
  const apiKey = overrides.apiKey ?? read.string("api_key") ?? defaults.apiKey;
  return {
    provider,
    ...(baseUrl === undefined ? {} : { baseUrl }),
    ...(apiKey === undefined || apiKey === "" ? {} : { apiKey }),
    model,
    timeoutMs: read.duration("timeout") ?? defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
}

/** Calls the model of the request's endpoint, in that provider's wire format. */
export function chat(request: ChatRequest): Promise<ChatReply> {
  return request.endpoint.provider === "anthropic" ? anthropicChat(request) : openaiChat(request);
}
