// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { test } from "node:test";
import { hasTemplate, parseTemplate } from "./template.ts";

const parts = (text: string) => {
  const parsed = parseTemplate(text);
  assert.ok(parsed.ok, `expected ${text} to parse`);
  return parsed.parts;
};

test("plain text has no template", () => {
  assert.equal(hasTemplate("hello $name {x}"), false);
  assert.deepEqual(parts("hello"), [{ kind: "text", text: "hello" }]);
  assert.deepEqual(parts(""), []);
});

test("one expression, embedded expressions, and their offsets", () => {
  assert.deepEqual(parts("${input.n}"), [{ kind: "expression", source: "input.n", offset: 0 }]);
  assert.deepEqual(parts("a ${x} b ${y}"), [
    { kind: "text", text: "a " },
    { kind: "expression", source: "x", offset: 2 },
    { kind: "text", text: " b " },
    { kind: "expression", source: "y", offset: 9 },
  ]);
});

test("braces inside strings, objects, template literals and comments do not end the expression", () => {
  assert.equal((parts("${ {a: 1}.a }")[0] as { source: string }).source, " {a: 1}.a ");
  assert.equal((parts("${ \"}\" + '}' }")[0] as { source: string }).source, " \"}\" + '}' ");
  assert.equal((parts("${ `x${ {b: 1}.b }}` }")[0] as { source: string }).source, " `x${ {b: 1}.b }}` ");
  assert.equal((parts("${ 1 /* } */ }")[0] as { source: string }).source, " 1 /* } */ ");
  assert.equal((parts("${ 1 // }\n }")[0] as { source: string }).source, " 1 // }\n ");
  assert.equal((parts('${ "a\\"}" }')[0] as { source: string }).source, ' "a\\"}" ');
});

test("$${ is a literal ${", () => {
  assert.deepEqual(parts("echo $${HOME} ${x}"), [
    { kind: "text", text: "echo ${HOME} " },
    { kind: "expression", source: "x", offset: 14 },
  ]);
});

test("unterminated and empty expressions are errors with their offset", () => {
  assert.deepEqual(parseTemplate("ab ${input.x"), {
    ok: false,
    message: "Unterminated ${…} expression: missing }",
    offset: 3,
  });
  assert.deepEqual(parseTemplate("${ '}"), {
    ok: false,
    message: "Unterminated ${…} expression: missing }",
    offset: 0,
  });
  assert.deepEqual(parseTemplate("x ${  }"), { ok: false, message: "Empty ${} expression", offset: 2 });
  assert.equal(parseTemplate("${ `a }").ok, false);
  assert.equal(parseTemplate("${ 1 /* }").ok, false);
  assert.equal(parseTemplate("${ 1 // }").ok, false);
});
