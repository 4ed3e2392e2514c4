import { KilnError } from "../../errors.ts";
import { retryableStatus } from "./llm-failure.ts";
import type { FlowServices } from "./node-api.ts";
import type { ParamRules, paramReader } from "./param-rules.ts";

/**
 * Embeddings from an OpenAI-compatible endpoint (`POST {base}/embeddings`) or a local embeddings
 * server (`provider: local`: `POST {base}/api/embed`, the format of Ollama and servers that copy
 * it), over fetch.
 */

/** The embeddings providers. */
export const EMBED_PROVIDERS = ["openai", "local"] as const;

/** The params that choose an embeddings endpoint (the embed node's, and rag.answer's `embed`). */
export const EMBED_ENDPOINT_RULES: ParamRules = {
  provider: {
    kind: "string",
    values: EMBED_PROVIDERS,
    description: "openai (OpenAI-compatible /embeddings, the default) or local (Ollama-style /api/embed)",
  },
  model: { kind: "string", required: true, description: "the embeddings model name" },
  base_url: {
    kind: "string",
    description: "the API base; default services.llm's (openai) or http://127.0.0.1:11434 (local)",
  },
  api_key: {
    kind: "string",
    description: "the API key, usually a secret (secrets.NAME); default services.llm's (openai)",
  },
  timeout: { kind: "duration", description: "per request (default services.llm's, else 60s)" },
};

/** An embeddings endpoint. */
export interface EmbedEndpoint {
  readonly provider: (typeof EMBED_PROVIDERS)[number];
  readonly url: string;
  readonly apiKey?: string;
  readonly model: string;
  readonly timeoutMs: number;
}

/** The endpoint from params; an OpenAI-compatible one defaults to the worker's llm base and key. */
export function embedEndpoint(
  type: string,
  read: ReturnType<typeof paramReader>,
  services: FlowServices,
): EmbedEndpoint {
  const provider = (read.string("provider") ?? "openai") as EmbedEndpoint["provider"];
  const settings = services.llm ?? {};
  const shared = provider === "openai" && (settings.provider ?? "openai") === "openai" ? settings : {};
  const base =
    read.string("base_url") ?? shared.baseUrl ?? (provider === "local" ? "http://127.0.0.1:11434" : undefined);
  if (base === undefined) {
    throw new KilnError(
      "INVALID_CONFIG",
      `A ${type} node needs an embeddings endpoint: give base_url, or configure services.llm.base_url`,
    );
  }
  const apiKey = read.string("api_key") ?? shared.apiKey;
  return {
    provider,
    url: `${base.replace(/\/+$/, "")}${provider === "local" ? "/api/embed" : "/embeddings"}`,
    ...(apiKey === undefined || apiKey === "" ? {} : { apiKey }),
    model: read.requiredString("model"),
    timeoutMs: read.duration("timeout") ?? settings.timeoutMs ?? 60_000,
  };
}

const failure = (message: string, retryable: boolean, data: Record<string, unknown> = {}) =>
  new KilnError("EMBED_REQUEST_FAILED", message, { retryable, data });

/** Embeds texts, one vector per text in order. */
export async function embedTexts(
  endpoint: EmbedEndpoint,
  texts: readonly string[],
  options: Readonly<{ signal: AbortSignal; fetch?: typeof globalThis.fetch }>,
): Promise<{ embeddings: number[][]; model: string; input_tokens: number }> {
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(endpoint.timeoutMs)]);
  let response: Response;
  let text: string;
  try {
    response = await (options.fetch ?? globalThis.fetch)(endpoint.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(endpoint.apiKey === undefined ? {} : { authorization: `Bearer ${endpoint.apiKey}` }),
      },
      body: JSON.stringify({ model: endpoint.model, input: texts }),
      signal,
    });
    text = await response.text();
  } catch (error) {
    const timedOut = signal.aborted && !options.signal.aborted;
    const detail = timedOut ? `no answer within ${endpoint.timeoutMs} ms` : (error as Error).message;
    throw failure(`The embeddings endpoint ${endpoint.url} failed: ${detail}`, true, {
      reason: timedOut ? "timeout" : "network",
    });
  }
  if (!response.ok) {
    throw failure(
      `The embeddings endpoint answered ${response.status}: ${text.slice(0, 500)}`,
      retryableStatus(response.status),
      {
        status: response.status,
      },
    );
  }
  let answer: {
    model?: string;
    data?: { index?: number; embedding?: number[] }[];
    embeddings?: number[][];
    usage?: { prompt_tokens?: number };
    prompt_eval_count?: number;
  };
  try {
    answer = JSON.parse(text);
  } catch {
    throw failure(`The embeddings endpoint did not answer JSON: ${text.slice(0, 200)}`, true);
  }
  const embeddings =
    endpoint.provider === "local"
      ? answer.embeddings
      : answer.data
          ?.slice()
          .sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
          .map((d) => d.embedding as number[]);
  if (!Array.isArray(embeddings) || embeddings.length !== texts.length || embeddings.some((e) => !Array.isArray(e))) {
    throw failure(
      `The embeddings endpoint answered ${embeddings?.length ?? "no"} embeddings for ${texts.length} texts`,
      true,
    );
  }
  return {
    embeddings,
    model: answer.model ?? endpoint.model,
    input_tokens: answer.usage?.prompt_tokens ?? answer.prompt_eval_count ?? 0,
  };
}
