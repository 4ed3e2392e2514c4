// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import type { CodeChecker, Sandbox } from "../expressions/sandbox.ts";
import type { ExpressionScope } from "../expressions/expression-scope.ts";
import type { ParamProblem } from "./node-type.ts";
import type { ParamRules } from "./param-rules.ts";
import type { StepNodeType } from "./node-api.ts";
import { DEFAULT_ACTION } from "../definition/flow-definition.ts";
import { KilnError } from "../../errors.ts";
import { NODE_ID_PATTERN } from "../definition/flow-schema.ts";
import { checkTemplateText, interpolateString, stringifyEmbedded } from "../expressions/expressions.ts";
import { hasTemplate } from "../expressions/template.ts";

/**
 * Predicates (`when:` of a node, `condition` of a condition node) are either a bare JavaScript
 * expression (`input.total > 100`) or a `${…}` template (`"${input.total > 100}"`). The result
 * is tested with JavaScript truthiness.
 */

/** A predicate's truth value and the secrets it read. */
export interface PredicateValue {
  readonly value: boolean;
  readonly secretNames: readonly string[];
}

/** Evaluates a predicate in the sandbox. */
export function evaluatePredicate(
  sandbox: Sandbox,
  predicate: string | boolean,
  scope: ExpressionScope,
): PredicateValue {
  if (typeof predicate === "boolean") return { value: predicate, secretNames: [] };
  const result = hasTemplate(predicate)
    ? interpolateString(sandbox, predicate, scope)
    : sandbox.evaluate(predicate, scope);
  return { value: Boolean(result.value), secretNames: result.secretNames };
}

/** Syntax problems of a predicate (offsets within the string); nothing is run. */
export function checkPredicate(code: CodeChecker, predicate: unknown): { offset: number; message: string }[] {
  if (typeof predicate === "boolean") return [];
  if (typeof predicate !== "string" || predicate.trim() === "") {
    return [{ offset: 0, message: "Expected a condition: a JavaScript expression, a ${…} template, or true/false" }];
  }
  if (hasTemplate(predicate)) return checkTemplateText(code, predicate);
  const problem = code.checkExpression(predicate);
  return problem === undefined ? [] : [{ offset: 0, message: `Bad expression ${predicate}: ${problem.message}` }];
}

/** One branch of a condition node. */
export interface ConditionBranch {
  readonly condition: string | boolean;
  readonly action: string;
}

/** Which action a condition node takes: the first branch whose condition holds, else `default_action`. */
export interface ConditionOutcome {
  readonly action: string;
  /** Index of the branch that matched, or null when the default action was taken. */
  readonly matched: number | null;
  readonly secretNames: readonly string[];
}

const isAction = (value: unknown): value is string => typeof value === "string" && NODE_ID_PATTERN.test(value);

/** Static problems of a condition node's params (paths relative to params); expressions are compiled, not run. */
export function checkConditionParams(params: Readonly<Record<string, unknown>>, code: CodeChecker): ParamProblem[] {
  const out: ParamProblem[] = [];
  const { conditions, default_action: defaultAction } = params;
  if (!Array.isArray(conditions) || conditions.length === 0) {
    out.push({ path: ["conditions"], message: 'Expected "conditions" to be a list of { condition, action }' });
  } else {
    conditions.forEach((branch: unknown, index) => {
      if (branch === null || typeof branch !== "object" || Array.isArray(branch)) {
        out.push({ path: ["conditions", index], message: 'Expected a mapping with "condition" and "action"' });
        return;
      }
      const { condition, action } = branch as Record<string, unknown>;
      for (const problem of checkPredicate(code, condition)) {
        out.push({ path: ["conditions", index, "condition"], ...problem });
      }
      if (!isAction(action)) {
        out.push({ path: ["conditions", index, "action"], message: 'Expected "action" to be an action name' });
      }
    });
  }
  if (defaultAction !== undefined && !isAction(defaultAction)) {
    out.push({ path: ["default_action"], message: 'Expected "default_action" to be an action name' });
  }
  return out;
}

/**
 * Evaluates a condition node: `params.conditions` is a list of `{ condition, action }`, the first
 * whose condition holds gives the action; else `params.default_action` (default `"default"`).
 * Pass the params as written (not interpolated): the conditions are evaluated here. The node's
 * output should be its input, so the routed node sees the same data.
 */
export function evaluateCondition(
  sandbox: Sandbox,
  params: Readonly<Record<string, unknown>>,
  scope: ExpressionScope,
): ConditionOutcome {
  const branches = params.conditions;
  if (!Array.isArray(branches)) {
    throw new KilnError("INVALID_CONFIG", "A condition node needs params.conditions: a list of { condition, action }");
  }
  const secrets = new Set<string>();
  for (const [index, branch] of (branches as ConditionBranch[]).entries()) {
    const result = evaluatePredicate(sandbox, branch.condition, scope);
    for (const name of result.secretNames) secrets.add(name);
    if (result.value) return { action: String(branch.action), matched: index, secretNames: [...secrets].sort() };
  }
  const fallback = params.default_action;
  const action = fallback === undefined ? DEFAULT_ACTION : stringifyEmbedded(fallback);
  return { action, matched: null, secretNames: [...secrets].sort() };
}

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
