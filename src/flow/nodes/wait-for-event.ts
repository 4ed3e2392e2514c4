import type { DurableNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";

const RULES: ParamRules = {
  event: { kind: "string", required: true, description: "the event name (kiln events send NAME)" },
  key: { kind: ["string", "number"], description: "the correlation key" },
  timeout: { kind: "duration", description: "fail with EVENT_TIMEOUT after this long" },
};

/**
 * `wait_for_event`: parks the run until an event named `event` (with correlation `key`, when
 * given) arrives; events sent earlier are buffered and count. The output is the event payload. A
 * `timeout` fails the node with EVENT_TIMEOUT (follow it with `next.error`).
 */
export const waitForEventNode: DurableNodeType = {
  type: "wait_for_event",
  kind: "durable",
  description: "Waits durably for an event; output is its payload",
  params: RULES,
  checkParams: (params) => checkParamRules("wait_for_event", RULES, params),
  async run(params, ctx) {
    const read = paramReader("wait_for_event", params);
    // The node's own `timeout:` is the wait's timeout when params do not give one.
    const timeout = read.duration("timeout") ?? ctx.node.timeoutMs ?? undefined;
    return await ctx.workflow.waitForEvent(ctx.stepName, {
      event: read.requiredString("event"),
      key: read.string("key") ?? null,
      timeout: timeout ?? null,
    });
  },
};
