import type { ChildOptions } from "../../workflow/workflow-context.ts";
import type { DurableNodeContext, DurableNodeType, NodeParams } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";

const RULES: ParamRules = {
  input: { kind: "any", description: "the child input (default: the node input)" },
  queue: { kind: "string", description: "queue of the child run" },
  priority: { kind: "integer", description: "priority of the child run" },
  timeout: { kind: "duration", description: "limit of the whole child run" },
};

const TASK_RULES: ParamRules = {
  kind: { kind: "string", required: true, description: "the task kind to run" },
  ...RULES,
};
const WORKFLOW_RULES: ParamRules = {
  name: { kind: "string", required: true, description: "the workflow to run: code or another flow" },
  ...RULES,
};

/**
 * The child options of a task or workflow node: the step name plus queue, priority, and timeout
 * (the param, else the node's own `timeout:`), which limits the whole child run.
 */
export function childOptions(type: string, params: NodeParams, ctx: DurableNodeContext): ChildOptions {
  const read = paramReader(type, params);
  const queue = read.string("queue");
  const priority = read.number("priority");
  const timeout = read.duration("timeout") ?? ctx.node.timeoutMs ?? undefined;
  const stepName = ctx.stepName;
  return {
    name: stepName,
    ...(queue === undefined ? {} : { queue }),
    ...(priority === undefined ? {} : { priority }),
    ...(timeout === undefined ? {} : { timeout }),
  };
}

/**
 * `task`: runs a configured task kind (`kind`) as a child run with `input` (default: the node
 * input) and waits for it; the run parks meanwhile. The output is the child's output; a failed
 * child fails the node with CHILD_FAILED.
 */
export const taskNode: DurableNodeType = {
  type: "task",
  kind: "durable",
  description: "A configured task kind as a child run; output is its output",
  params: TASK_RULES,
  checkParams: (params) => checkParamRules("task", TASK_RULES, params),
  async run(params, ctx) {
    const kind = paramReader("task", params).requiredString("kind");
    const input = Object.hasOwn(params, "input") ? params.input : ctx.input;
    return await ctx.workflow.task(kind, input, childOptions("task", params, ctx));
  },
};

/**
 * `workflow`: runs a workflow (`name`, code or flow) as a child run with `input` (default: the
 * node input) and waits for it. The output is the child's output.
 */
export const workflowNode: DurableNodeType = {
  type: "workflow",
  kind: "durable",
  description: "A child workflow run; output is its output",
  params: WORKFLOW_RULES,
  checkParams: (params) => checkParamRules("workflow", WORKFLOW_RULES, params),
  async run(params, ctx) {
    const name = paramReader("workflow", params).requiredString("name");
    const input = Object.hasOwn(params, "input") ? params.input : ctx.input;
    return await ctx.workflow.workflow(name, input, childOptions("workflow", params, ctx));
  },
};
