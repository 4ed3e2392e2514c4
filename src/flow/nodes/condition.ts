// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { checkConditionParams, evaluateCondition } from "../condition-node.ts";
import type { StepNodeType } from "./node-api.ts";
import type { ParamRules } from "./param-rules.ts";

const PARAMS: ParamRules = {
  conditions: {
    kind: "array",
    required: true,
    description:
      "a list of { condition, action }: JavaScript expressions or ${…} templates; the first that holds gives the action",
  },
  default_action: { kind: "string", description: "the action when none holds (default default)" },
};

/**
 * `condition`: routes by the action of the first `{ condition, action }` that holds, else
 * `default_action` (default `default`). Its output is its input, so the routed node sees the same data.
 */
export const conditionNode: StepNodeType = {
  type: "condition",
  kind: "step",
  description: "Routes by the action of the first condition that holds",
  rawParams: ["conditions"],
  params: PARAMS,
  checkParams: (params, code) => [
    ...checkConditionParams(params, code),
    ...Object.keys(params)
      .filter((key) => !Object.hasOwn(PARAMS, key))
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
