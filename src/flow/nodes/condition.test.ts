// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { KilnError } from "../../errors.ts";
import { checkConditionParams, checkPredicate, evaluateCondition, evaluatePredicate } from "./condition.ts";
import { Sandbox } from "../expressions/sandbox.ts";

const sandbox = await Sandbox.create();
after(() => sandbox.dispose());
const scope = { input: { total: 150, country: "FR" }, secrets: { LIMIT: "100" } };

describe("predicates", () => {
  test("bare expressions, templates and booleans, by truthiness", () => {
    assert.equal(evaluatePredicate(sandbox, "input.total > 100", scope).value, true);
    assert.equal(evaluatePredicate(sandbox, "${input.total < 100}", scope).value, false);
    assert.equal(evaluatePredicate(sandbox, "input.missing", scope).value, false);
    assert.equal(evaluatePredicate(sandbox, "input.country", scope).value, true);
    assert.equal(evaluatePredicate(sandbox, true, scope).value, true);
    assert.equal(evaluatePredicate(sandbox, false, scope).value, false);
    assert.deepEqual(evaluatePredicate(sandbox, "input.total > Number(secrets.LIMIT)", scope).secretNames, ["LIMIT"]);
  });

  test("checkPredicate compiles without running", () => {
    assert.deepEqual(checkPredicate(sandbox, "input.total > 1"), []);
    assert.deepEqual(checkPredicate(sandbox, true), []);
    assert.deepEqual(checkPredicate(sandbox, "${input.ok}"), []);
    assert.equal(checkPredicate(sandbox, "input.total >")[0]?.offset, 0);
    assert.equal(checkPredicate(sandbox, "ok ${input.total >}")[0]?.offset, 3);
    assert.match(checkPredicate(sandbox, "  ")[0]?.message ?? "", /Expected a condition/);
    assert.match(checkPredicate(sandbox, 5)[0]?.message ?? "", /Expected a condition/);
  });
});

describe("condition node", () => {
  const params = {
    conditions: [
      { condition: "input.total > 1000", action: "manual" },
      { condition: "${input.country === 'FR'}", action: "domestic" },
      { condition: "input.total > 100", action: "review" },
    ],
    default_action: "auto",
  };

  test("the first condition that holds gives the action", () => {
    assert.deepEqual(evaluateCondition(sandbox, params, scope), { action: "domestic", matched: 1, secretNames: [] });
  });

  test("none holds: default_action, else default", () => {
    const small = { input: { total: 1, country: "DE" } };
    assert.deepEqual(evaluateCondition(sandbox, params, small), { action: "auto", matched: null, secretNames: [] });
    const { default_action: _, ...withoutDefault } = params;
    assert.equal(evaluateCondition(sandbox, withoutDefault, small).action, "default");
  });

  test("a failing condition fails the node; malformed params are INVALID_CONFIG", () => {
    assert.throws(
      () => evaluateCondition(sandbox, { conditions: [{ condition: "input.a.b", action: "x" }] }, scope),
      (e: unknown) => e instanceof KilnError && e.code === "EXPRESSION_FAILED",
    );
    assert.throws(
      () => evaluateCondition(sandbox, {}, scope),
      (e: unknown) => e instanceof KilnError && e.code === "INVALID_CONFIG",
    );
  });

  test("checkConditionParams reports each problem with its path", () => {
    assert.deepEqual(checkConditionParams(params, sandbox), []);
    const problems = checkConditionParams(
      {
        conditions: [{ condition: "a >", action: "ok" }, "nope", { condition: true, action: "1x" }],
        default_action: 3,
      },
      sandbox,
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      [["conditions", 0, "condition"], ["conditions", 1], ["conditions", 2, "action"], ["default_action"]],
    );
    assert.deepEqual(
      checkConditionParams({ conditions: [] }, sandbox).map((p) => p.path),
      [["conditions"]],
    );
  });
});
