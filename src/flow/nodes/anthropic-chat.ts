import Anthropic from "@anthropic-ai/sdk";
import { KilnError } from "../../errors.ts";
import type { ChatReply, ChatRequest, ChatTurn, ToolCall } from "./chat-types.ts";
import { llmFailure, retryableStatus } from "./llm-failure.ts";

/**
 * A message from Anthropic's Messages API through the official SDK (`@anthropic-ai/sdk`), pointed
 * at `baseUrl` when one is given (a gateway, or the test stub). The SDK's own retries are off:
 * retrying is the step's retry policy, so attempts are counted and recorded by Kiln.
 */

type WireContent =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown }
  | { type: "tool_result"; tool_use_id: string; content: string };

interface WireMessage {
  role: "user" | "assistant";
  content: string | WireContent[];
}

/** Neutral turns as Messages API messages: system turns join the system prompt, tool results become user turns. */
export function anthropicMessages(turns: readonly unknown[], system: string | undefined) {
  const systems = system === undefined ? [] : [system];
  const messages: WireMessage[] = [];
  for (const turn of turns as ChatTurn[]) {
    if (turn.role === "system") systems.push(turn.content);
    else if (turn.role === "user") messages.push({ role: "user", content: turn.content });
    else if (turn.role === "assistant") {
      const calls = turn.tool_calls ?? [];
      if (calls.length === 0) messages.push({ role: "assistant", content: turn.content });
      else {
        messages.push({
          role: "assistant",
          content: [
            ...(turn.content === "" ? [] : [{ type: "text" as const, text: turn.content }]),
            ...calls.map((call) => ({
              type: "tool_use" as const,
              id: call.id,
              name: call.name,
              input: call.arguments ?? {},
            })),
          ],
        });
      }
    } else {
      // Consecutive tool results answer one assistant turn: they travel in one user message.
      const result: WireContent = { type: "tool_result", tool_use_id: turn.tool_call_id, content: turn.content };
      const last = messages[messages.length - 1];
      if (last?.role === "user" && Array.isArray(last.content) && last.content.every((c) => c.type === "tool_result")) {
        last.content.push(result);
      } else messages.push({ role: "user", content: [result] });
    }
  }
  return { system: systems.length === 0 ? undefined : systems.join("\n\n"), messages };
}

/** Calls the Anthropic Messages API (streamed or not). */
export async function anthropicChat(request: ChatRequest): Promise<ChatReply> {
  const { endpoint } = request;
  const client = new Anthropic({
    apiKey: endpoint.apiKey ?? null,
    // A local endpoint may need no key; the SDK then wants to be told to send none.
    ...(endpoint.apiKey === undefined ? { defaultHeaders: { authorization: null } } : {}),
    ...(endpoint.baseUrl === undefined ? {} : { baseURL: endpoint.baseUrl.replace(/\/+$/, "") }),
    ...(request.fetch === undefined ? {} : { fetch: request.fetch }),
    maxRetries: 0,
    timeout: endpoint.timeoutMs,
  });
  const wire = anthropicMessages(request.turns, request.system);
  const system =
    request.json === true
      ? `${wire.system === undefined ? "" : `${wire.system}\n\n`}Answer with one JSON object and nothing else.`
      : wire.system;
  const body = {
    model: endpoint.model,
    // The Messages API requires max_tokens; 4096 fits every current model's output limit.
    max_tokens: request.maxTokens ?? 4096,
    messages: wire.messages as Anthropic.MessageParam[],
    ...(system === undefined ? {} : { system }),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.tools === undefined || request.tools.length === 0
      ? {}
      : {
          tools: request.tools.map((tool) => ({
            name: tool.name,
            description: tool.description,
            input_schema: tool.parameters as Anthropic.Tool.InputSchema,
          })),
        }),
  };
  try {
    const message = request.stream
      ? await client.messages
          .stream(body, { signal: request.signal })
          .on("text", (delta) => request.onText?.(delta))
          .finalMessage()
      : await client.messages.create(body, { signal: request.signal });
    let text = "";
    const calls: ToolCall[] = [];
    for (const block of message.content) {
      if (block.type === "text") text += block.text;
      else if (block.type === "tool_use") calls.push({ id: block.id, name: block.name, arguments: block.input });
    }
    if (!request.stream && text !== "") request.onText?.(text);
    const input = message.usage?.input_tokens ?? 0;
    const output = message.usage?.output_tokens ?? 0;
    return {
      text,
      tool_calls: calls,
      model: message.model ?? endpoint.model,
      finish_reason: message.stop_reason ?? null,
      usage: { input_tokens: input, output_tokens: output, total_tokens: input + output },
    };
  } catch (error) {
    if (error instanceof KilnError) throw error;
    const where = endpoint.baseUrl ?? "the Anthropic API";
    if (error instanceof Anthropic.APIError && typeof error.status === "number") {
      throw llmFailure(
        `${where} answered ${error.status}: ${error.message.slice(0, 500)}`,
        retryableStatus(error.status),
        {
          status: error.status,
        },
      );
    }
    const timedOut = error instanceof Anthropic.APIConnectionTimeoutError;
    const detail = timedOut ? `no answer within ${endpoint.timeoutMs} ms` : (error as Error).message;
    throw llmFailure(`${where} failed: ${detail}`, true, { reason: timedOut ? "timeout" : "network" });
  }
}
