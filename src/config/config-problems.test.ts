import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import { checkValue } from "../flow/run/flow-input.ts";
import { didYouMean, expectationPhrase, formatKeyPath, issuePhrase, problemsFromIssues } from "./config-problems.ts";

const schema = z.strictObject({
  timeout_seconds: z.number().positive(),
  command: z.string().min(1),
  args: z.union([z.string(), z.array(z.string())]).optional(),
});

function issuesOf(value: unknown): z.core.$ZodIssue[] {
  const result = schema.safeParse(value, { error: expectationPhrase });
  assert.equal(result.success, false);
  return result.error?.issues ?? [];
}

describe("didYouMean", () => {
  test("suggests the closest candidate within a few edits", () => {
    assert.equal(didYouMean("timout_seconds", ["timeout_seconds", "command"]), ' (did you mean "timeout_seconds"?)');
    assert.equal(didYouMean("http.requst", ["http.request", "llm"]), ' (did you mean "http.request"?)');
  });

  test("a short name allows fewer edits, so it is not turned into an unrelated word", () => {
    assert.equal(didYouMean("bb", ["b"]), ' (did you mean "b"?)');
    assert.equal(didYouMean("ab", ["xy"]), "");
    assert.equal(didYouMean("completely-different", ["timeout_seconds"]), "");
  });

  test("a caller with a short fixed list of candidates may allow more edits", () => {
    assert.equal(didYouMean("uses", ["needs"]), "");
    assert.equal(didYouMean("uses", ["needs"], 3), ' (did you mean "needs"?)');
  });
});

describe("zod problem wording", () => {
  const value = { timeout_seconds: "abc", timout_seconds: 1, args: 3 };

  test("config files: located messages that name the key and what was expected", () => {
    const problems = problemsFromIssues(issuesOf(value), {
      file: "kiln.yaml",
      data: value,
      locate: () => ({ line: 1, column: 1 }),
      knownKeys: () => Object.keys(schema.shape),
    });
    assert.deepEqual(problems.map((p) => `${p.path}: ${p.message}`).sort(), [
      'args: Expected "args" to be a string or a list, got 3',
      'command: Missing required key "command" (a string)',
      'timeout_seconds: Expected "timeout_seconds" to be a number, got "abc"',
      'timout_seconds: Unknown key "timout_seconds" (did you mean "timeout_seconds"?)',
    ]);
  });

  test("flow input and plugin params: the same phrases, under the value's root", () => {
    const checked = checkValue(schema, value, "input");
    assert.equal(checked.ok, false);
    const problems = checked.ok ? [] : checked.problems;
    assert.deepEqual(problems.map((p) => `${p.path}: ${p.message}`).sort(), [
      "input.args: expected a string or a list, got 3",
      "input.command: missing (expected a string)",
      'input.timeout_seconds: expected a number, got "abc"',
      "input.timout_seconds: unknown field",
    ]);
  });

  test("issuePhrase lists the branches of a union and passes other phrases through", () => {
    const [union] = issuesOf({ timeout_seconds: 1, command: "x", args: 3 });
    assert.ok(union);
    assert.equal(issuePhrase(union), "a string or a list");
    const [positive] = issuesOf({ timeout_seconds: -1, command: "x" });
    assert.ok(positive);
    assert.equal(issuePhrase(positive), "a positive number");
    assert.equal(formatKeyPath(["tasks", 0, "env", "MY KEY"]), 'tasks[0].env["MY KEY"]');
  });
});
