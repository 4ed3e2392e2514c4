import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { KilnError } from "../../errors.ts";
import { Sandbox } from "./sandbox.ts";

const sandbox = await Sandbox.create({ memoryLimitBytes: 16 * 1024 * 1024, expressionTimeoutMs: 50 });
after(() => sandbox.dispose());

const scope = {
  input: { n: 2, name: "Ada", items: [1, 2, 3] },
  flow: { input: { id: 7 } },
  nodes: { fetch: { output: { status: 200 }, status: "completed", error: null } },
  secrets: { TOKEN: "tok-123456", OTHER: "other-secret" },
  env: { REGION: "eu" },
  run: { id: "run-1", attempt: 1 },
};

/** Asserts that `fn` throws EXPRESSION_FAILED with the given reason, and returns the error. */
function expectFailure(fn: () => unknown, reason: string): KilnError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof KilnError, `expected a KilnError, got ${String(error)}`);
    assert.equal(error.code, "EXPRESSION_FAILED");
    assert.equal(error.data?.reason, reason, error.message);
    assert.equal(error.retryable, false);
    return error;
  }
  assert.fail("expected the evaluation to fail");
}

/** The sandbox still evaluates correctly (after a failure). */
function assertStillWorks() {
  assert.deepEqual(sandbox.evaluate("input.n * 21", scope).value, 42);
  assert.deepEqual(sandbox.evaluate("nodes.fetch.output.status", scope).value, 200);
}

describe("sandbox: evaluating expressions", () => {
  test("every scope name is visible", () => {
    assert.equal(sandbox.evaluate("input.name", scope).value, "Ada");
    assert.equal(sandbox.evaluate("flow.input.id", scope).value, 7);
    assert.equal(sandbox.evaluate("nodes.fetch.status", scope).value, "completed");
    assert.equal(sandbox.evaluate("env.REGION", scope).value, "eu");
    assert.equal(sandbox.evaluate("run.attempt", scope).value, 1);
    assert.deepEqual(sandbox.evaluate("input.items.map((x) => x * 2)", scope).value, [2, 4, 6]);
  });

  test("values keep their JSON type; undefined stays undefined", () => {
    assert.equal(sandbox.evaluate("1 + 1", scope).value, 2);
    assert.equal(sandbox.evaluate("input.n > 1", scope).value, true);
    assert.equal(sandbox.evaluate("null", scope).value, null);
    assert.equal(sandbox.evaluate("input.missing", scope).value, undefined);
    assert.deepEqual(sandbox.evaluate("({ a: [1, { b: 'c' }] })", scope).value, { a: [1, { b: "c" }] });
  });

  test("a missing scope part is empty, not an error", () => {
    assert.deepEqual(sandbox.evaluate("[input, nodes, env]", {}).value, [null, {}, {}]);
  });

  test("reading a secret is recorded; other evaluations report none", () => {
    const read = sandbox.evaluate("'Bearer ' + secrets.TOKEN", scope);
    assert.equal(read.value, "Bearer tok-123456");
    assert.deepEqual(read.secretNames, ["TOKEN"]);
    assert.deepEqual(sandbox.evaluate("input.n", scope).secretNames, []);
    assert.deepEqual(sandbox.evaluate("Object.keys(secrets)", scope).secretNames, []);
    assert.deepEqual(sandbox.evaluate("JSON.stringify(secrets).length > 0", scope).secretNames, ["OTHER", "TOKEN"]);
  });

  test("a new scope object is picked up; the same object is reused", () => {
    const a = { input: 1 };
    const b = { input: 2 };
    assert.equal(sandbox.evaluate("input", a).value, 1);
    assert.equal(sandbox.evaluate("input", b).value, 2);
    assert.equal(sandbox.evaluate("input", a).value, 1);
  });

  test("node results are sent incrementally and each scope sees exactly its own", () => {
    const a1 = { output: 1, status: "completed", error: null };
    const a2 = { output: 2, status: "completed", error: null };
    const b = { output: "b", status: "completed", error: null };
    const env = { E: "1" };
    assert.deepEqual(sandbox.evaluate("[nodes.a.output, Object.keys(nodes)]", { nodes: { a: a1 }, env }).value, [
      1,
      ["a"],
    ]);
    const both = { nodes: { a: a1, b }, env };
    assert.deepEqual(sandbox.evaluate("JSON.stringify(nodes)", both).value, JSON.stringify({ a: a1, b }));
    assert.deepEqual(sandbox.evaluate("[nodes.a.output, typeof nodes.b, env.E]", { nodes: { a: a2 }, env }).value, [
      2,
      "undefined",
      "1",
    ]);
    assert.equal(sandbox.evaluate("nodes.b.output", both).value, "b");
    assert.equal(sandbox.evaluate("'input' in nodes ? 1 : input", { input: 5 }).value, 5);
  });

  test("the scope is read-only to expressions", () => {
    const error = expectFailure(() => sandbox.evaluate("input.n = 5", scope), "error");
    assert.match(error.message, /read-only/);
    assert.equal(sandbox.evaluate("input.n", scope).value, 2);
  });

  test("a runtime error names the expression", () => {
    const error = expectFailure(() => sandbox.evaluate("input.nope.deeper", scope), "error");
    assert.match(error.message, /^Expression `input\.nope\.deeper` failed: TypeError/);
  });

  test("a syntax error is reported as such", () => {
    const error = expectFailure(() => sandbox.evaluate("input.n +", scope), "syntax");
    assert.match(error.message, /SyntaxError: unexpected end of expression/);
  });

  test("secret values never appear in error messages", () => {
    const error = expectFailure(() => sandbox.evaluate("(() => { throw new Error(secrets.TOKEN) })()", scope), "error");
    assert.doesNotMatch(error.message, /tok-123456/);
    assert.match(error.message, /\*\*\*/);
  });
});

describe("sandbox: escape attempts fail cleanly and leave it usable", () => {
  test("process is not defined", () => {
    const error = expectFailure(() => sandbox.evaluate("process.env", scope), "error");
    assert.match(error.message, /'process' is not defined/);
    assertStillWorks();
  });

  test("require is not defined", () => {
    expectFailure(() => sandbox.evaluate("require('node:fs').readFileSync('/etc/passwd', 'utf8')", scope), "error");
    assertStillWorks();
  });

  test("the Function constructor trick reaches nothing of the host", () => {
    const error = expectFailure(
      () => sandbox.evaluate("globalThis.constructor.constructor('return process')()", scope),
      "error",
    );
    assert.match(error.message, /'process' is not defined/);
    expectFailure(() => sandbox.evaluate("(function(){}).constructor('return require')()", scope), "error");
    assert.equal(sandbox.evaluate("typeof globalThis.constructor.constructor('return this')()", scope).value, "object");
    assertStillWorks();
  });

  test("no host modules or globals exist", () => {
    const names =
      "[typeof std, typeof os, typeof print, typeof scriptArgs, typeof fetch, typeof setTimeout, typeof Deno]";
    assert.deepEqual(sandbox.evaluate(names, scope).value, Array(7).fill("undefined"));
  });

  test("an infinite loop is stopped by the time limit", () => {
    const started = Date.now();
    const error = expectFailure(() => sandbox.evaluate("(() => { while (true) {} })()", scope), "timeout");
    assert.match(error.message, /did not finish within 50 ms/);
    assert.ok(Date.now() - started < 2000);
    assertStillWorks();
  });

  test("a memory bomb is stopped by the memory limit", () => {
    const bomb = "const a = []; for (let i = 0; ; i++) a.push([i, i, i, i, i, i, i, i]);";
    const error = expectFailure(() => sandbox.runScript(bomb, scope), "memory");
    assert.match(error.message, /ran out of memory/);
    expectFailure(() => sandbox.evaluate("'x'.repeat(2 ** 29).length", scope), "memory");
    assertStillWorks();
  });

  test("unbounded recursion is a clean error", () => {
    expectFailure(() => sandbox.evaluate("(function f() { return f() })()", scope), "error");
    assertStillWorks();
  });

  test("nesting deep enough to overflow the host stack swaps in a fresh module", async () => {
    const deep = "JSON.parse('['.repeat(200000))";
    const error = expectFailure(() => sandbox.evaluate(deep, scope), "crashed");
    assert.match(error.message, /reduce recursion or nesting depth/);
    assertStillWorks();
    await sandbox.ready();
    assertStillWorks();
  });

  test("globals and intrinsics are frozen: one expression cannot affect the next", () => {
    expectFailure(() => sandbox.evaluate("globalThis.leak = secrets.TOKEN", scope), "error");
    expectFailure(() => sandbox.evaluate("Array.prototype.map = () => 'owned'", scope), "error");
    expectFailure(() => sandbox.evaluate("Object.prototype.polluted = 1", scope), "error");
    expectFailure(() => sandbox.evaluate("(function* () {}).constructor.prototype.x = 1", scope), "error");
    assert.equal(sandbox.evaluate("typeof leak", scope).value, "undefined");
    assert.deepEqual(sandbox.evaluate("[1, 2].map((x) => x + 1)", scope).value, [2, 3]);
    assert.equal(sandbox.evaluate("({}).polluted", scope).value, undefined);
  });
});

describe("sandbox: scripts", () => {
  test("a script returns its output, logs are captured and masked", () => {
    const script = `
      console.log("total", input.items.length, { ok: true });
      console.warn("token is", secrets.TOKEN);
      return { sum: input.items.reduce((a, b) => a + b, 0) };
    `;
    const result = sandbox.runScript(script, scope);
    assert.deepEqual(result.value, { sum: 6 });
    assert.deepEqual(result.logs, [
      { level: "info", message: 'total 3 {"ok":true}' },
      { level: "warn", message: "token is ***" },
    ]);
    assert.deepEqual(result.secretNames, ["TOKEN"]);
  });

  test("a script may modify its own copy of the input", () => {
    const result = sandbox.runScript("input.extra = true; input.items.push(4); return input;", scope);
    assert.deepEqual(result.value, { n: 2, name: "Ada", items: [1, 2, 3, 4], extra: true });
    assert.deepEqual(scope.input.items, [1, 2, 3]);
    assert.deepEqual(sandbox.evaluate("input.items", scope).value, [1, 2, 3]);
  });

  test("a script may declare names that shadow the scope", () => {
    assert.equal(sandbox.runScript("let input = 5; const nodes = 1; return input + nodes;", scope).value, 6);
  });

  test("a script without return gives undefined", () => {
    assert.equal(sandbox.runScript("const x = 1;", scope).value, undefined);
  });

  test("a failing script keeps the lines it logged", () => {
    const error = expectFailure(() => sandbox.runScript("console.log('step 1'); null.x;", scope), "error");
    assert.match(error.message, /^Script failed: TypeError/);
    assert.deepEqual(error.data?.logs, [{ level: "info", message: "step 1" }]);
  });

  test("a script syntax error names its line", () => {
    const error = expectFailure(() => sandbox.runScript("const a = 1;\nreturn a +;", scope), "syntax");
    assert.match(error.message, /\(line 2\)/);
  });

  test("console output is capped", async () => {
    const small = await Sandbox.create({ maxLogLines: 3 });
    try {
      const result = small.runScript("for (let i = 0; i < 10; i++) console.log(i); return 1;", {});
      assert.deepEqual(
        result.logs.map((log) => log.message),
        ["0", "1", "2", "7 more console lines were dropped"],
      );
    } finally {
      small.dispose();
    }
  });

  test("the script time limit applies", async () => {
    const quick = await Sandbox.create({ scriptTimeoutMs: 30 });
    try {
      assert.throws(() => quick.runScript("for (;;) {}", {}), /did not finish within 30 ms/);
      assert.equal(quick.runScript("return 5", {}).value, 5);
    } finally {
      quick.dispose();
    }
  });
});

describe("sandbox: syntax checks run nothing", () => {
  test("checkExpression", () => {
    assert.equal(sandbox.checkExpression("input.a + 1"), undefined);
    assert.match(sandbox.checkExpression("input.a +")?.message ?? "", /SyntaxError/);
    assert.match(sandbox.checkExpression("a; b")?.message ?? "", /expected one expression/);
    // Compiling does not run the code: an endless loop compiles instantly.
    assert.equal(sandbox.checkExpression("(() => { for (;;) {} })()"), undefined);
  });

  test("checkScript reports the line", () => {
    assert.equal(sandbox.checkScript("const a = 1;\nreturn a;"), undefined);
    assert.deepEqual(sandbox.checkScript("const a = 1;\nconst b = ;\n"), {
      message: "SyntaxError: unexpected token in expression: ';'",
      line: 2,
    });
  });
});

describe("sandbox: lifecycle", () => {
  test("a disposed sandbox refuses work", async () => {
    const short = await Sandbox.create();
    short.dispose();
    assert.throws(
      () => short.evaluate("1", {}),
      (error: unknown) => error instanceof KilnError && error.code === "INTERNAL",
    );
  });

  test("the cache of compiled expressions is bounded", async () => {
    const small = await Sandbox.create({ maxCachedFunctions: 5 });
    try {
      for (let i = 0; i < 50; i++) assert.equal(small.evaluate(`${i} + 1`, {}).value, i + 1);
      assert.equal(small.evaluate("0 + 1", {}).value, 1);
    } finally {
      small.dispose();
    }
  });
});
