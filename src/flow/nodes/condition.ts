import { checkConditionParams, evaluateCondition } from "../condition-node.ts";
import type { StepNodeType } from "./node-api.ts";

const KNOWN = new Set(["conditions", "default_action"]);

/**
 * `condition`: routes by the action of the first `{ condition, action }` that holds, else
 * `default_action` (default `default`). Its output is its input, so the routed node sees the same data.
 */
export const conditionNode: StepNodeType = {
  type: "condition",
  kind: "step",
  description: "Routes by the action of the first condition that holds",
  rawParams: ["conditions"],
  checkParams: (params, code) => [
    ...checkConditionParams(params, code),
    ...Object.keys(params)
      .filter((key) => !KNOWN.has(key))
      .map((key) => ({
        path: [key],
        message: `Unknown param "${key}" of condition. Known params: conditions, default_action`,
      })),
  ],
  run(params, ctx) {
    // Conditions are evaluated here, from the params as written; default_action may be a template.
    const outcome = evaluateCondition(
      ctx.sandbox,
      { ...ctx.rawParams, default_action: params.default_action },
      ctx.scope,
    );
    ctx.setAction(outcome.action);
    return ctx.input;
  },
};
