import { KilnError } from "../../errors.ts";
import type { ChatReply, ChatRequest, ChatTurn, ToolCall } from "./chat-types.ts";
import { llmFailure, retryableStatus } from "./llm-failure.ts";
import { sseData } from "./sse-events.ts";

/**
 * A chat completion from an OpenAI-compatible endpoint (`POST {base}/chat/completions`), over
 * fetch: the format is small and served by many local servers (vLLM, llama.cpp, Ollama), so it is
 * spoken directly. Streaming uses server-sent events with `stream_options.include_usage` for the
 * token counts; an endpoint that ignores `stream` and answers JSON is read as JSON.
 */

/** A neutral turn as an OpenAI message; anything else (messages written in the flow) passes as is. */
function wireMessage(turn: unknown): unknown {
  const t = turn as ChatTurn;
  if (t?.role === "assistant" && t.tool_calls !== undefined && t.tool_calls.length > 0) {
    return {
      role: "assistant",
      content: t.content === "" ? null : t.content,
      tool_calls: t.tool_calls.map((call) => ({
        id: call.id,
        type: "function",
        function: { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) },
      })),
    };
  }
  if (t?.role === "tool") return { role: "tool", tool_call_id: t.tool_call_id, content: t.content };
  return turn;
}

function parseArguments(text: string, name: string): unknown {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw llmFailure(`The model called tool "${name}" with arguments that are not JSON: ${text.slice(0, 200)}`, true);
  }
}

interface WireChoice {
  message?: { content?: string | null; tool_calls?: WireToolCall[] };
  delta?: { content?: string | null; tool_calls?: WireToolCall[] };
  finish_reason?: string | null;
}
interface WireToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}
interface WireAnswer {
  model?: string;
  choices?: WireChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null;
}

function usage(answer: WireAnswer["usage"]) {
  const input = answer?.prompt_tokens ?? 0;
  const output = answer?.completion_tokens ?? 0;
  return { input_tokens: input, output_tokens: output, total_tokens: answer?.total_tokens ?? input + output };
}

/** Calls an OpenAI-compatible chat completions endpoint. */
export async function openaiChat(request: ChatRequest): Promise<ChatReply> {
  const { endpoint } = request;
  const base = endpoint.baseUrl ?? "https://api.openai.com/v1";
  const url = `${base.replace(/\/+$/, "")}/chat/completions`;
  const body = {
    model: endpoint.model,
    messages: [
      ...(request.system === undefined ? [] : [{ role: "system", content: request.system }]),
      ...request.turns.map(wireMessage),
    ],
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
    ...(request.json === true ? { response_format: { type: "json_object" } } : {}),
    ...(request.tools === undefined || request.tools.length === 0
      ? {}
      : {
          tools: request.tools.map((tool) => ({
            type: "function",
            function: { name: tool.name, description: tool.description, parameters: tool.parameters },
          })),
        }),
    ...(request.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  };
  const signal = AbortSignal.any([request.signal, AbortSignal.timeout(endpoint.timeoutMs)]);
  const fail = (error: unknown): never => {
    const timedOut = signal.aborted && !request.signal.aborted;
    const detail = timedOut ? `no answer within ${endpoint.timeoutMs} ms` : (error as Error).message;
    throw llmFailure(`The model endpoint ${url} failed: ${detail}`, true, { reason: timedOut ? "timeout" : "network" });
  };
  let response: Response;
  try {
    response = await (request.fetch ?? globalThis.fetch)(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(endpoint.apiKey === undefined || endpoint.apiKey === ""
          ? {}
          : { authorization: `Bearer ${endpoint.apiKey}` }),
      },
      body: JSON.stringify(body),
      signal,
    });
  } catch (error) {
    return fail(error);
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    throw llmFailure(
      `The model endpoint answered ${response.status}: ${text.slice(0, 500)}`,
      retryableStatus(response.status),
      {
        status: response.status,
      },
    );
  }
  try {
    const streamed = (response.headers.get("content-type") ?? "").includes("text/event-stream");
    if (streamed && response.body !== null) return await readStream(response.body, request, endpoint.model);
    const text = await response.text();
    let answer: WireAnswer;
    try {
      answer = JSON.parse(text) as WireAnswer;
    } catch {
      throw llmFailure(`The model endpoint did not answer JSON: ${text.slice(0, 200)}`, true);
    }
    const choice = answer.choices?.[0];
    const content = choice?.message?.content;
    const calls = (choice?.message?.tool_calls ?? []).map((call, i) => {
      const name = call.function?.name ?? "";
      return { id: call.id ?? `call_${i}`, name, arguments: parseArguments(call.function?.arguments ?? "", name) };
    });
    if (typeof content !== "string" && calls.length === 0) {
      throw llmFailure("The model's answer has no message content", true);
    }
    if (typeof content === "string") request.onText?.(content);
    return {
      text: content ?? "",
      tool_calls: calls,
      model: answer.model ?? endpoint.model,
      finish_reason: choice?.finish_reason ?? null,
      usage: usage(answer.usage),
    };
  } catch (error) {
    if (error instanceof KilnError) throw error;
    return fail(error);
  }
}

async function readStream(body: ReadableStream<Uint8Array>, request: ChatRequest, model: string): Promise<ChatReply> {
  let text = "";
  let finish: string | null = null;
  let answered = model;
  let counts: WireAnswer["usage"] = null;
  const calls = new Map<number, { id: string; name: string; arguments: string }>();
  for await (const data of sseData(body)) {
    if (data.trim() === "[DONE]") break;
    let chunk: WireAnswer;
    try {
      chunk = JSON.parse(data) as WireAnswer;
    } catch {
      throw llmFailure(`The model endpoint streamed an event that is not JSON: ${data.slice(0, 200)}`, true);
    }
    if (chunk.model !== undefined) answered = chunk.model;
    if (chunk.usage) counts = chunk.usage;
    const choice = chunk.choices?.[0];
    if (choice === undefined) continue;
    const delta = choice.delta?.content;
    if (typeof delta === "string" && delta !== "") {
      text += delta;
      request.onText?.(delta);
    }
    for (const part of choice.delta?.tool_calls ?? []) {
      const index = part.index ?? 0;
      const call = calls.get(index) ?? { id: "", name: "", arguments: "" };
      if (part.id !== undefined) call.id = part.id;
      if (part.function?.name !== undefined) call.name += part.function.name;
      if (part.function?.arguments !== undefined) call.arguments += part.function.arguments;
      calls.set(index, call);
    }
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  const toolCalls: ToolCall[] = [...calls.entries()]
    .sort(([a], [b]) => a - b)
    .map(([i, call]) => ({
      id: call.id || `call_${i}`,
      name: call.name,
      arguments: parseArguments(call.arguments, call.name),
    }));
  return { text, tool_calls: toolCalls, model: answered, finish_reason: finish, usage: usage(counts) };
}
