import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for model providers, started by tests: it speaks OpenAI chat completions
 * (`POST /v1/chat/completions`, JSON or server-sent events), OpenAI embeddings
 * (`POST /v1/embeddings`), a local embeddings server's format (`POST /api/embed`, as Ollama) and
 * Anthropic Messages (`POST /v1/messages`, JSON or server-sent events), and logs every request.
 * What the "model" answers is decided by `respond`, deterministically from the conversation, so
 * a replayed conversation gets the same answers. Other paths go to `route` (tool endpoints).
 */

/** A conversation as the stub sees it, whichever wire format carried it. */
export interface StubAsk {
  readonly provider: "openai" | "anthropic";
  readonly model: string;
  readonly system: string;
  /** The text of the last user message that is not a tool result. */
  readonly prompt: string;
  /** Tool results so far, in order. */
  readonly toolResults: readonly string[];
  /** Names of the tools offered. */
  readonly tools: readonly string[];
}

/** What the stub's model answers. */
export interface StubReply {
  readonly text?: string;
  readonly toolCalls?: readonly { readonly name: string; readonly arguments: unknown }[];
}

/** One logged request. */
export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: unknown;
}

/** The running stub. */
export interface ModelStub {
  readonly url: string;
  readonly requests: StubRequest[];
  /** Decides the model's answers (default: `echo: <prompt>`). */
  respond: (ask: StubAsk) => StubReply;
  /** Answers other paths; return false for a 404. */
  route: (request: StubRequest, response: ServerResponse) => boolean;
  /** The requests to one path. */
  calls(path: string): StubRequest[];
  close(): Promise<void>;
}

const DIMENSIONS = 16;

/** A deterministic bag-of-words embedding: texts sharing words are close. */
export function stubEmbedding(text: string): number[] {
  const vector = new Array<number>(DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    let hash = 7;
    for (const char of word) hash = (hash * 31 + char.charCodeAt(0)) % 1_000_003;
    vector[hash % DIMENSIONS] = (vector[hash % DIMENSIONS] ?? 0) + 1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((v) => v / norm);
}

const words = (text: string) => text.split(/(?<= )/);

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part: { type?: string; text?: string }) => (part.type === "text" ? (part.text ?? "") : ""))
      .join("");
  }
  return "";
}

function openaiAsk(body: Record<string, unknown>): StubAsk {
  const messages = (body.messages ?? []) as { role: string; content: unknown }[];
  return {
    provider: "openai",
    model: String(body.model),
    system: messages
      .filter((m) => m.role === "system")
      .map((m) => textOf(m.content))
      .join("\n"),
    prompt: textOf(messages.filter((m) => m.role === "user").at(-1)?.content),
    toolResults: messages.filter((m) => m.role === "tool").map((m) => textOf(m.content)),
    tools: ((body.tools ?? []) as { function: { name: string } }[]).map((t) => t.function.name),
  };
}

function anthropicAsk(body: Record<string, unknown>): StubAsk {
  const messages = (body.messages ?? []) as { role: string; content: unknown }[];
  const results: string[] = [];
  let prompt = "";
  for (const m of messages) {
    if (m.role !== "user") continue;
    const parts = Array.isArray(m.content) ? (m.content as { type: string; content?: unknown }[]) : [];
    const toolResults = parts.filter((p) => p.type === "tool_result");
    if (toolResults.length > 0) results.push(...toolResults.map((p) => textOf(p.content)));
    else prompt = textOf(m.content);
  }
  return {
    provider: "anthropic",
    model: String(body.model),
    system: typeof body.system === "string" ? body.system : textOf(body.system),
    prompt,
    toolResults: results,
    tools: ((body.tools ?? []) as { name: string }[]).map((t) => t.name),
  };
}

function sse(response: ServerResponse, events: readonly (readonly [string | null, unknown])[]): void {
  response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const [event, data] of events) {
    response.write(
      `${event === null ? "" : `event: ${event}\n`}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`,
    );
  }
  response.end();
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(value));
}

function answerOpenai(body: Record<string, unknown>, reply: StubReply, response: ServerResponse): void {
  const ask = openaiAsk(body);
  const text = reply.text ?? "";
  const calls = (reply.toolCalls ?? []).map((c, i) => ({ id: `call_${ask.toolResults.length}_${i}`, ...c }));
  const usage = {
    prompt_tokens: 10 * (body.messages as unknown[]).length,
    completion_tokens: words(text).length + 5 * calls.length,
  };
  const finish = calls.length > 0 ? "tool_calls" : "stop";
  const model = ask.model;
  if (body.stream !== true) {
    sendJson(response, 200, {
      model,
      choices: [
        {
          message: {
            role: "assistant",
            content: calls.length > 0 && text === "" ? null : text,
            ...(calls.length === 0
              ? {}
              : {
                  tool_calls: calls.map((c) => ({
                    id: c.id,
                    type: "function",
                    function: { name: c.name, arguments: JSON.stringify(c.arguments) },
                  })),
                }),
          },
          finish_reason: finish,
        },
      ],
      usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
    });
    return;
  }
  const chunk = (delta: unknown, finishReason: string | null = null) =>
    [null, { model, choices: [{ index: 0, delta, finish_reason: finishReason }] }] as const;
  const events: (readonly [string | null, unknown])[] = [chunk({ role: "assistant", content: "" })];
  for (const piece of text === "" ? [] : words(text)) events.push(chunk({ content: piece }));
  calls.forEach((c, index) => {
    const args = JSON.stringify(c.arguments);
    const half = Math.floor(args.length / 2);
    events.push(
      chunk({
        tool_calls: [{ index, id: c.id, type: "function", function: { name: c.name, arguments: args.slice(0, half) } }],
      }),
    );
    events.push(chunk({ tool_calls: [{ index, function: { arguments: args.slice(half) } }] }));
  });
  events.push(chunk({}, finish));
  events.push([
    null,
    { model, choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } },
  ]);
  events.push([null, "[DONE]"]);
  sse(response, events);
}

function answerAnthropic(body: Record<string, unknown>, reply: StubReply, response: ServerResponse): void {
  const ask = anthropicAsk(body);
  const text = reply.text ?? "";
  const calls = (reply.toolCalls ?? []).map((c, i) => ({ id: `toolu_${ask.toolResults.length}_${i}`, ...c }));
  const input = 10 * (body.messages as unknown[]).length;
  const output = words(text).length + 5 * calls.length;
  const stop = calls.length > 0 ? "tool_use" : "end_turn";
  const content = [
    ...(text === "" ? [] : [{ type: "text", text }]),
    ...calls.map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: c.arguments })),
  ];
  const message = { id: "msg_stub", type: "message", role: "assistant", model: ask.model, stop_sequence: null };
  if (body.stream !== true) {
    sendJson(response, 200, {
      ...message,
      content,
      stop_reason: stop,
      usage: { input_tokens: input, output_tokens: output },
    });
    return;
  }
  const events: (readonly [string | null, unknown])[] = [
    [
      "message_start",
      {
        type: "message_start",
        message: { ...message, content: [], stop_reason: null, usage: { input_tokens: input, output_tokens: 1 } },
      },
    ],
  ];
  content.forEach((block, index) => {
    if (block.type === "text") {
      events.push([
        "content_block_start",
        { type: "content_block_start", index, content_block: { type: "text", text: "" } },
      ]);
      for (const piece of words(text)) {
        events.push([
          "content_block_delta",
          { type: "content_block_delta", index, delta: { type: "text_delta", text: piece } },
        ]);
      }
    } else {
      const { input: args, ...start } = block as { input: unknown };
      events.push([
        "content_block_start",
        { type: "content_block_start", index, content_block: { ...start, input: {} } },
      ]);
      const json = JSON.stringify(args);
      const half = Math.floor(json.length / 2);
      for (const partial of [json.slice(0, half), json.slice(half)]) {
        events.push([
          "content_block_delta",
          { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: partial } },
        ]);
      }
    }
    events.push(["content_block_stop", { type: "content_block_stop", index }]);
  });
  events.push([
    "message_delta",
    { type: "message_delta", delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: output } },
  ]);
  events.push(["message_stop", { type: "message_stop" }]);
  sse(response, events);
}

/** Starts the stub on a free loopback port. */
export async function startModelStub(): Promise<ModelStub> {
  const requests: StubRequest[] = [];
  const stub: ModelStub = {
    url: "",
    requests,
    respond: (ask) => ({ text: `echo: ${ask.prompt}` }),
    route: () => false,
    calls: (path) => requests.filter((r) => r.path === path),
    close: async () => {},
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = text === "" ? null : JSON.parse(text);
      } catch {}
      const path = new URL(request.url ?? "/", "http://stub").pathname;
      const logged: StubRequest = { method: request.method ?? "", path, headers: request.headers, body };
      requests.push(logged);
      const b = (body ?? {}) as Record<string, unknown>;
      try {
        if (path === "/v1/chat/completions") return answerOpenai(b, stub.respond(openaiAsk(b)), response);
        if (path === "/v1/messages") return answerAnthropic(b, stub.respond(anthropicAsk(b)), response);
        const inputs = Array.isArray(b.input) ? (b.input as string[]) : [String(b.input)];
        if (path === "/v1/embeddings") {
          return sendJson(response, 200, {
            object: "list",
            model: b.model,
            data: inputs.map((t, index) => ({ object: "embedding", index, embedding: stubEmbedding(t) })),
            usage: { prompt_tokens: inputs.length * 3, total_tokens: inputs.length * 3 },
          });
        }
        if (path === "/api/embed")
          return sendJson(response, 200, { model: b.model, embeddings: inputs.map(stubEmbedding) });
        if (!stub.route(logged, response)) sendJson(response, 404, { error: `no route ${path}` });
      } catch (error) {
        sendJson(response, 500, { error: String(error) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(stub, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
