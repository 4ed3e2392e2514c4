// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { KilnError } from "../../errors.ts";
import { checkTemplates, interpolate, interpolateString, maskSecrets, stringifyEmbedded } from "./expressions.ts";
import { Sandbox } from "./sandbox.ts";

const sandbox = await Sandbox.create();
after(() => sandbox.dispose());

const scope = {
  input: { n: 3, name: "Ada", tags: ["a", "b"], user: { id: 1 }, none: null, yes: true },
  nodes: { fetch: { output: { body: { id: 9 } }, status: "completed", error: null } },
  secrets: { TOKEN: "tok-abcdef", LONG: "tok-abcdef-and-more" },
};

describe("typing rules", () => {
  test("a string that is exactly one ${expr} keeps the JSON type", () => {
    assert.equal(interpolateString(sandbox, "${input.n}", scope).value, 3);
    assert.equal(interpolateString(sandbox, "${input.yes}", scope).value, true);
    assert.equal(interpolateString(sandbox, "${input.none}", scope).value, null);
    assert.deepEqual(interpolateString(sandbox, "${input.tags}", scope).value, ["a", "b"]);
    assert.deepEqual(interpolateString(sandbox, "${input.user}", scope).value, { id: 1 });
    assert.equal(interpolateString(sandbox, "${input.missing}", scope).value, undefined);
    assert.equal(interpolateString(sandbox, "${ input.n * 2 }", scope).value, 6);
  });

  test("embedded expressions are stringified", () => {
    assert.equal(interpolateString(sandbox, "n=${input.n}", scope).value, "n=3");
    assert.equal(interpolateString(sandbox, "${input.n}${input.n}", scope).value, "33");
    assert.equal(interpolateString(sandbox, " ${input.n}", scope).value, " 3");
    assert.equal(interpolateString(sandbox, "user ${input.user}", scope).value, 'user {"id":1}');
    assert.equal(interpolateString(sandbox, "tags ${input.tags}", scope).value, 'tags ["a","b"]');
    assert.equal(interpolateString(sandbox, "[${input.none}|${input.missing}]", scope).value, "[|]");
    assert.equal(interpolateString(sandbox, "${input.yes}!", scope).value, "true!");
  });

  test("stringifyEmbedded", () => {
    assert.equal(stringifyEmbedded("s"), "s");
    assert.equal(stringifyEmbedded(1.5), "1.5");
    assert.equal(stringifyEmbedded(null), "");
    assert.equal(stringifyEmbedded({ a: [1] }), '{"a":[1]}');
  });

  test("text without expressions is returned as is; $${ is literal", () => {
    assert.equal(interpolateString(sandbox, "plain", scope).value, "plain");
    assert.equal(interpolateString(sandbox, "echo $${HOME}", scope).value, "echo ${HOME}");
  });
});

describe("deep interpolation of params", () => {
  test("objects and lists are walked; keys and non-strings are kept", () => {
    const params = {
      url: "https://api/${input.user.id}",
      body: { id: "${nodes.fetch.output.body.id}", tags: ["${input.tags[0]}", 5, true, null], "${key}": "k" },
      count: 2,
    };
    const result = interpolate(sandbox, params, scope);
    assert.deepEqual(result.value, {
      url: "https://api/1",
      body: { id: 9, tags: ["a", 5, true, null], "${key}": "k" },
      count: 2,
    });
    assert.equal(params.url, "https://api/${input.user.id}", "the input is not modified");
    assert.deepEqual(result.secretNames, []);
  });

  test("raw keys are left as written (code, shell text)", () => {
    const params = { script: "return `${input.n}`", label: "${input.name}" };
    assert.deepEqual(interpolate(sandbox, params, scope, { rawKeys: ["script"] }).value, {
      script: "return `${input.n}`",
      label: "Ada",
    });
  });

  test("secrets read anywhere are reported with their values, for masking", () => {
    const params = { headers: { Authorization: "Bearer ${secrets.TOKEN}" }, other: "${secrets.LONG}", n: "${input.n}" };
    const result = interpolate(sandbox, params, scope);
    assert.deepEqual(result.secretNames, ["LONG", "TOKEN"]);
    assert.deepEqual([...result.secretValues].sort(), ["tok-abcdef", "tok-abcdef-and-more"]);
    assert.deepEqual(maskSecrets(result.value, result.secretValues), {
      headers: { Authorization: "Bearer ***" },
      other: "***",
      n: 3,
    });
  });

  test("a failing expression fails the whole interpolation with EXPRESSION_FAILED", () => {
    assert.throws(
      () => interpolate(sandbox, { a: "${input.n}", b: ["${input.nope.x}"] }, scope),
      (error: unknown) => error instanceof KilnError && error.code === "EXPRESSION_FAILED",
    );
    assert.throws(
      () => interpolateString(sandbox, "x ${input.n", scope),
      (error: unknown) => error instanceof KilnError && /Unterminated/.test(error.message),
    );
  });
});

describe("masking and checking", () => {
  test("maskSecrets replaces longer secrets first and leaves other values alone", () => {
    assert.deepEqual(maskSecrets(["ab-abc", { k: "abc" }, 3], ["abc", "ab-abc"]), ["***", { k: "***" }, 3]);
    assert.equal(maskSecrets("x", []), "x");
    assert.equal(maskSecrets("x", [""]), "x");
  });

  test("checkTemplates finds every bad template with its path and offset", () => {
    const problems = checkTemplates(
      sandbox,
      { a: "ok ${input.n}", b: ["x ${input.n +}"], c: { d: "${" }, script: "${not checked" },
      ["params"],
      ["script"],
    );
    assert.deepEqual(
      problems.map((p) => [p.path, p.offset]),
      [
        [["params", "b", 0], 2],
        [["params", "c", "d"], 0],
      ],
    );
    assert.match(problems[0]?.message ?? "", /^Bad expression \$\{input.n \+\}: SyntaxError/);
  });
});
