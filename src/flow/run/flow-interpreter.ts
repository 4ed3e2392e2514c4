import { KilnError } from "../../errors.ts";
import type { WorkflowContext, WorkflowFunction } from "../../worker/workflow-context.ts";
import type { FlowDefinition, FlowNode } from "../definition/flow-definition.ts";
import type { FlowDeps } from "./flow-deps.ts";
import { validateFlowInput } from "./flow-input.ts";
import { FlowSession, type SessionShared } from "./flow-session.ts";
import { canonicalNodeType } from "../nodes/node-aliases.ts";
import { isRunnable } from "../nodes/node-api.ts";

/**
 * The flow interpreter: a YAML flow becomes an ordinary workflow function over the durable step
 * primitive (docs/flows.md), so a flow run is a workflow run like any other: every node visit is a
 * recorded step (or sleep, event wait, child run) named after the node (`charge`, `charge#2` on a
 * second visit, `each[3]` for for_each items), replayed after a crash, retried per the node's
 * `retry`, compensated per its `compensate`.
 */

/** Node types a flow uses, compensations and nodes inside for_each / parallel included. */
function typesUsed(flow: FlowDefinition): Set<string> {
  const types = new Set<string>();
  const addInline = (spec: unknown) => {
    if (spec !== null && typeof spec === "object" && typeof (spec as { type?: unknown }).type === "string") {
      types.add(canonicalNodeType((spec as { type: string }).type));
    }
  };
  const add = (node: FlowNode) => {
    types.add(node.type);
    if (node.type === "for_each") addInline(node.params.do);
    if (node.type === "parallel") {
      const branches = node.params.branches;
      if (Array.isArray(branches)) branches.forEach(addInline);
      else if (branches !== null && typeof branches === "object") Object.values(branches).forEach(addInline);
    }
    if (node.compensate !== null) add(node.compensate);
  };
  for (const id of flow.nodeIds) add(flow.nodes[id] as FlowNode);
  return types;
}

/** Credentials of the worker's node settings: masked like secrets in everything a flow stores. */
function credentials(deps: FlowDeps): string[] {
  const services = deps.services ?? {};
  return [services.email?.password, services.llm?.apiKey].filter(
    (value): value is string => typeof value === "string" && value !== "",
  );
}

/**
 * Compiles a loaded flow into a workflow function. Fails with INVALID_CONFIG when the flow uses a
 * node type this worker cannot run (a plugin that is not loaded here). The function validates the
 * run's input against the flow's `params` (INVALID_INPUT, not retried) and returns the output of
 * the last node that ran.
 */
export function createFlowWorkflow(flow: FlowDefinition, deps: FlowDeps): WorkflowFunction {
  const missing = [...typesUsed(flow)].filter((type) => !isRunnable(deps.nodeTypes.get(type)));
  if (missing.length > 0) {
    throw new KilnError(
      "INVALID_CONFIG",
      `Flow "${flow.name}" uses node type(s) ${missing.join(", ")}, which this worker cannot run; load the plugin that defines them`,
      { data: { types: missing } },
    );
  }
  const shared: SessionShared = {
    flow,
    deps,
    env: Object.freeze({ ...(deps.env ?? {}) }),
    alwaysMasked: credentials(deps),
  };
  const flowWorkflow = async (input: unknown, ctx: WorkflowContext): Promise<unknown> => {
    const flowInput = validateFlowInput(flow, input);
    return await new FlowSession(shared, ctx, flowInput).run();
  };
  return flowWorkflow as WorkflowFunction;
}
