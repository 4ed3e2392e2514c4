/**
 * The provider-neutral shape of a chat with a language model, shared by the `llm`, `agent` and
 * `rag.answer` nodes: each provider client (OpenAI-compatible chat completions, Anthropic
 * Messages) converts it to its own wire format and back, so a transcript recorded by one step
 * reads the same whichever provider produced it.
 */

/** The model providers a chat node can call. */
export type ChatProvider = "openai" | "anthropic";

/** Every provider, for param validation. */
export const CHAT_PROVIDERS: readonly ChatProvider[] = ["openai", "anthropic"];

/** A tool the model asked to call, with its parsed JSON arguments. */
export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: unknown;
}

/** One turn of a conversation. A `tool` turn answers the assistant's tool call of the same id. */
export type ChatTurn =
  | { readonly role: "system"; readonly content: string }
  | { readonly role: "user"; readonly content: string }
  | { readonly role: "assistant"; readonly content: string; readonly tool_calls?: readonly ToolCall[] }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly name: string; readonly content: string };

/** A tool offered to the model: a name, what it does, and a JSON Schema of its arguments. */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, unknown>>;
}

/** Tokens one model call consumed. */
export interface TokenUsage {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly total_tokens: number;
}

/** The endpoint and model of a call, resolved from node params over the worker's settings. */
export interface ChatEndpoint {
  readonly provider: ChatProvider;
  /** The API base (OpenAI: `…/v1`; Anthropic: the host, the SDK adds `/v1/messages`); undefined = the provider's. */
  readonly baseUrl?: string;
  readonly apiKey?: string;
  readonly model: string;
  readonly timeoutMs: number;
}

/** One model call. */
export interface ChatRequest {
  readonly endpoint: ChatEndpoint;
  readonly system?: string;
  /** The conversation (OpenAI-style messages given as written are passed through to OpenAI endpoints). */
  readonly turns: readonly unknown[];
  readonly tools?: readonly ToolSpec[];
  readonly temperature?: number;
  readonly maxTokens?: number;
  /** Ask for a JSON object answer (OpenAI `response_format`; Anthropic: an instruction in the system prompt). */
  readonly json?: boolean;
  /** Stream the answer (tokens reach `onText` as they arrive). */
  readonly stream: boolean;
  readonly signal: AbortSignal;
  readonly fetch?: typeof globalThis.fetch;
  /** Receives the answer's text as it streams in. */
  readonly onText?: (delta: string) => void;
}

/** What a model call answered. */
export interface ChatReply {
  readonly text: string;
  readonly tool_calls: readonly ToolCall[];
  readonly model: string;
  readonly finish_reason: string | null;
  readonly usage: TokenUsage;
}

/** Adds up token usages. */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    total_tokens: a.total_tokens + b.total_tokens,
  };
}

/** No tokens. */
export const NO_USAGE: TokenUsage = Object.freeze({ input_tokens: 0, output_tokens: 0, total_tokens: 0 });

/** A usage from counts that may be missing (a server that reports none counts as zero). */
export function usageOf(input: unknown, output: unknown): TokenUsage {
  const i = typeof input === "number" ? input : 0;
  const o = typeof output === "number" ? output : 0;
  return { input_tokens: i, output_tokens: o, total_tokens: i + o };
}
