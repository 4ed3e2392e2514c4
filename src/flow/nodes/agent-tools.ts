import { describeValue } from "../../config/config-problems.ts";
import { KilnError } from "../../errors.ts";
import type { NodeTypeRegistry, ParamProblem } from "./node-type.ts";
import type { CodeChecker } from "../expressions/sandbox.ts";
import type { ToolSpec } from "./chat-types.ts";
import { checkInlineNode } from "./inline-node.ts";
import { isTemplated } from "./param-rules.ts";

/**
 * The tools of an `agent` node, as written: each has a `name`, a `description` for the model, a
 * JSON Schema of its arguments (`parameters`), and what runs when the model calls it: `node` (an
 * inline node of any step or durable type, whose `input` is the call's arguments) or `workflow`
 * (a deployed workflow run as a child run with the arguments as input).
 */

/** One tool, resolved. */
export interface AgentTool extends ToolSpec {
  readonly node?: unknown;
  readonly workflow?: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const KEYS = ["name", "description", "parameters", "node", "workflow"];

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** Static problems of the `tools` param at `path`. */
export function checkAgentTools(tools: unknown, code: CodeChecker, types: NodeTypeRegistry): ParamProblem[] {
  if (tools === undefined || isTemplated(tools)) return [];
  if (!Array.isArray(tools))
    return [{ path: ["tools"], message: `Expected "tools" to be a list, got ${describeValue(tools)}` }];
  const out: ParamProblem[] = [];
  const seen = new Set<string>();
  tools.forEach((tool, i) => {
    const path = ["tools", i];
    if (!isRecord(tool)) {
      out.push({
        path,
        message: `Expected a tool: a mapping with name, description and node or workflow, got ${describeValue(tool)}`,
      });
      return;
    }
    for (const key of Object.keys(tool)) {
      if (!KEYS.includes(key))
        out.push({ path: [...path, key], message: `Unknown key "${key}" of a tool. Known keys: ${KEYS.join(", ")}` });
    }
    if (typeof tool.name !== "string" || !NAME.test(tool.name)) {
      out.push({ path: [...path, "name"], message: "Expected a tool name of 1-64 letters, digits, _ or -" });
    } else if (seen.has(tool.name))
      out.push({ path: [...path, "name"], message: `Tool "${tool.name}" is listed twice` });
    else seen.add(tool.name);
    if (typeof tool.description !== "string" || tool.description === "") {
      out.push({
        path: [...path, "description"],
        message: "Expected a description telling the model what the tool does",
      });
    }
    if (tool.parameters !== undefined && !isRecord(tool.parameters)) {
      out.push({ path: [...path, "parameters"], message: "Expected parameters to be a JSON Schema (a mapping)" });
    }
    const hasNode = tool.node !== undefined;
    if (hasNode === (tool.workflow !== undefined)) {
      out.push({
        path,
        message: "A tool runs either a node (node: { type, params }) or a workflow (workflow: NAME); give exactly one",
      });
    } else if (hasNode) out.push(...checkInlineNode(tool.node, [...path, "node"], code, types));
    else if (typeof tool.workflow !== "string" || tool.workflow === "") {
      out.push({ path: [...path, "workflow"], message: "Expected the name of a deployed workflow" });
    }
  });
  return out;
}

/** The tools as the agent runs them (validated before the flow ran). */
export function agentTools(tools: unknown): AgentTool[] {
  if (tools === undefined) return [];
  if (!Array.isArray(tools))
    throw new KilnError("INVALID_INPUT", `Expected "tools" of agent to be a list, got ${describeValue(tools)}`);
  return tools.map((tool: Record<string, unknown>) => ({
    name: String(tool.name),
    description: String(tool.description),
    parameters: isRecord(tool.parameters) ? tool.parameters : { type: "object", properties: {} },
    ...(tool.node === undefined ? {} : { node: tool.node }),
    ...(typeof tool.workflow === "string" ? { workflow: tool.workflow } : {}),
  }));
}
