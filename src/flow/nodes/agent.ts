import { KilnError, serializeError } from "../../errors.ts";
import { interpolateString } from "../expressions/expressions.ts";
import { type AgentTool, agentTools, checkAgentTools } from "./agent-tools.ts";
import { chat, chatEndpoint, MODEL_PARAM_RULES } from "./chat-model.ts";
import { addUsage, type ChatReply, type ChatTurn, NO_USAGE, type TokenUsage } from "./chat-types.ts";
import type { DurableNodeContext, DurableNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";
import { TextLog } from "./text-log.ts";

/** Model calls an agent may make when `max_iterations` is not given. */
export const DEFAULT_AGENT_ITERATIONS = 10;

const RULES: ParamRules = {
  prompt: { kind: "string", required: true, description: "the task, the conversation's first user message" },
  system: { kind: "string", description: "the system prompt" },
  tools: {
    kind: "array",
    description: "tools the model may call: { name, description, parameters?, node | workflow }",
  },
  max_iterations: {
    kind: "integer",
    description: `the most model calls (default ${DEFAULT_AGENT_ITERATIONS}); more fails with AGENT_MAX_ITERATIONS`,
  },
  token_budget: {
    kind: "integer",
    description: "the most tokens of the conversation; more fails with AGENT_TOKEN_BUDGET",
  },
  ...MODEL_PARAM_RULES,
};

const short = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * One model call of the conversation, as a durable step: a crash after it completed replays its
 * recorded answer instead of asking the model again.
 */
function modelStep(
  ctx: DurableNodeContext,
  index: number,
  call: (onText: (delta: string) => void) => Promise<ChatReply>,
): Promise<ChatReply> {
  const retry = ctx.node.retry;
  return ctx.workflow.step(
    `${ctx.stepName}.model[${index}]`,
    async () => {
      const log = new TextLog((line) => ctx.log(`model: ${line}`));
      const reply = await call((delta) => log.push(delta));
      log.flush();
      return reply;
    },
    retry === null ? {} : { retry },
  );
}

/** Runs one tool call as a step (node tools) or a child run (workflow tools); failures go back to the model. */
async function toolStep(ctx: DurableNodeContext, tool: AgentTool | undefined, args: unknown, name: string) {
  if (tool === undefined)
    return { error: { code: "INVALID_INPUT", message: "No tool of that name; use one of the tools offered" } };
  try {
    if (tool.workflow !== undefined) return await ctx.workflow.workflow(tool.workflow, args, { name });
    return await ctx.runInline(ctx.inlineNode(tool.node, `${ctx.nodeId}.${tool.name}`), args, name);
  } catch (error) {
    const { code, message } = serializeError(error);
    return { error: { code, message } };
  }
}

/**
 * `agent`: a tool-using conversation with a model (`provider` openai or anthropic, in that
 * provider's tool-use format). Each model call is a durable step `<node>.model[i]` and each tool
 * call a step or child run `<node>.tool[i.j]`, so a crash mid-conversation resumes without
 * repeating completed calls. Tools are inline nodes or deployed workflows (see agent-tools.ts);
 * a tool's failure is told to the model, which may try something else. Fails with
 * AGENT_MAX_ITERATIONS after `max_iterations` model calls that still asked for tools, and with
 * AGENT_TOKEN_BUDGET once the conversation used more than `token_budget` tokens. The output is
 * `{ text, iterations, usage, transcript }`; the transcript is also written to the run log.
 */
export const agentNode: DurableNodeType = {
  type: "agent",
  kind: "durable",
  description: "A tool-using model conversation; tools are nodes or deployed workflows, each call a durable step",
  params: RULES,
  rawParams: ["tools", "api_key"],
  checkParams: (params, code, types) => {
    const problems = checkParamRules("agent", RULES, params);
    for (const key of ["max_iterations", "token_budget"]) {
      const value = params[key];
      if (typeof value === "number" && value < 1)
        problems.push({ path: [key], message: `Expected "${key}" to be 1 or more` });
    }
    // A tools value that is not a list is already reported by the rules.
    if (Array.isArray(params.tools)) problems.push(...checkAgentTools(params.tools, code, types));
    return problems;
  },
  async run(params, ctx) {
    const read = paramReader("agent", params);
    const rawKey = ctx.node.params.api_key;
    // The key is read here, from the scope with secrets: interpolated params are masked for storage.
    const apiKey =
      typeof rawKey === "string" ? String(interpolateString(ctx.sandbox, rawKey, ctx.scope).value) : undefined;
    const endpoint = chatEndpoint("agent", read, ctx.services, apiKey === undefined ? {} : { apiKey });
    const tools = agentTools(ctx.node.params.tools);
    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    const maxIterations = read.number("max_iterations") ?? DEFAULT_AGENT_ITERATIONS;
    const budget = read.number("token_budget");
    const system = read.string("system");
    const temperature = read.number("temperature");
    const maxTokens = read.number("max_tokens");
    const stream = read.boolean("stream") ?? true;
    const transcript: ChatTurn[] = [{ role: "user", content: read.requiredString("prompt") }];
    const ask = (onText: (delta: string) => void) =>
      chat({
        endpoint,
        turns: transcript,
        tools,
        ...(system === undefined ? {} : { system }),
        ...(temperature === undefined ? {} : { temperature }),
        ...(maxTokens === undefined ? {} : { maxTokens }),
        stream,
        signal: AbortSignal.timeout(endpoint.timeoutMs),
        ...(ctx.services.fetch === undefined ? {} : { fetch: ctx.services.fetch }),
        onText,
      });
    // Later model calls and tools start at barrier rounds, so parallel durable nodes replay in order.
    const round = ctx.rounds.join();
    let usage: TokenUsage = NO_USAGE;
    try {
      for (let i = 0; ; i++) {
        if (i > 0) await ctx.rounds.arrive(round);
        const reply = await modelStep(ctx, i, ask);
        usage = addUsage(usage, reply.usage);
        transcript.push({ role: "assistant", content: reply.text, tool_calls: reply.tool_calls });
        ctx.log(`model[${i}]: ${reply.usage.total_tokens} tokens (${usage.total_tokens} so far)`);
        if (budget !== undefined && usage.total_tokens > budget) {
          throw new KilnError(
            "AGENT_TOKEN_BUDGET",
            `Agent "${ctx.nodeId}" used ${usage.total_tokens} tokens, over its token_budget of ${budget}; raise token_budget or shorten the task`,
            { retryable: false, data: { usage, budget, transcript } },
          );
        }
        if (reply.tool_calls.length === 0) return { text: reply.text, iterations: i + 1, usage, transcript };
        if (i + 1 >= maxIterations) {
          throw new KilnError(
            "AGENT_MAX_ITERATIONS",
            `Agent "${ctx.nodeId}" still called tools after ${maxIterations} model calls; raise max_iterations or give the model a clearer task`,
            { retryable: false, data: { usage, transcript } },
          );
        }
        for (const [j, call] of reply.tool_calls.entries()) {
          if (j > 0) await ctx.rounds.arrive(round);
          ctx.log(`tool ${call.name} ← ${short(JSON.stringify(call.arguments ?? {}))}`);
          const result = await toolStep(
            ctx,
            byName.get(call.name),
            call.arguments ?? {},
            `${ctx.stepName}.tool[${i}.${j}]`,
          );
          const content = typeof result === "string" ? result : (JSON.stringify(result) ?? "null");
          ctx.log(`tool ${call.name} → ${short(content)}`);
          transcript.push({ role: "tool", tool_call_id: call.id, name: call.name, content });
        }
      }
    } finally {
      ctx.rounds.leave();
    }
  },
};
