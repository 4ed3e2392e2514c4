import assert from "node:assert/strict";
import { after, test } from "node:test";
import { KilnError } from "../../errors.ts";
import { Sandbox } from "../expressions/sandbox.ts";
import { checkTransformParams, runTransform } from "./transform.ts";

const sandbox = await Sandbox.create();
after(() => sandbox.dispose());

test("a transform returns its output and its console lines", () => {
  const scope = { input: [3, 1, 2], nodes: { prev: { output: { factor: 10 }, status: "completed", error: null } } };
  const script = "console.log('sorting', input.length);\nreturn input.sort().map((x) => x * nodes.prev.output.factor);";
  const result = runTransform(sandbox, { script }, scope);
  assert.deepEqual(result.value, [10, 20, 30]);
  assert.deepEqual(result.logs, [{ level: "info", message: "sorting 3" }]);
});

test("transform chains: each output is the next input", () => {
  let value: unknown = { n: 1 };
  for (let i = 0; i < 5; i++)
    value = runTransform(sandbox, { script: "return { n: input.n * 2 }" }, { input: value }).value;
  assert.deepEqual(value, { n: 32 });
});

test("a transform without a script is INVALID_CONFIG", () => {
  assert.throws(
    () => runTransform(sandbox, {}, {}),
    (e: unknown) => e instanceof KilnError && e.code === "INVALID_CONFIG",
  );
});

test("checkTransformParams: missing script, and a syntax error at its line", () => {
  assert.deepEqual(checkTransformParams({ script: "return 1" }, sandbox), []);
  assert.deepEqual(
    checkTransformParams({}, sandbox).map((p) => p.path),
    [["script"]],
  );
  const [problem] = checkTransformParams({ script: "const a = 1;\nconst b = 2;\nreturn a +;" }, sandbox);
  assert.equal(problem?.offset, "const a = 1;\nconst b = 2;\n".length);
  assert.match(problem?.message ?? "", /^Bad script: SyntaxError.*\(line 3 of the script\)$/);
});
