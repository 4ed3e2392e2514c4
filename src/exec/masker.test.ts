import assert from "node:assert/strict";
import { test } from "node:test";
import { MASK, Masker } from "./masker.ts";

test("masks every occurrence, longest value first", () => {
  const masker = new Masker(["abc", "abcdef"]);
  assert.equal(masker.mask("x abcdef y abc z"), `x ${MASK} y ${MASK} z`);
});

test("values added later mask from then on; blanks are ignored", () => {
  const masker = new Masker();
  assert.equal(masker.mask("s3cret"), "s3cret");
  masker.add("s3cret");
  masker.add("   ");
  masker.add("");
  assert.equal(masker.size, 1);
  assert.equal(masker.mask("is s3cret"), `is ${MASK}`);
});

test("multi-line values are masked whole and line by line", () => {
  const masker = new Masker(["line-one\nline-two"]);
  assert.equal(masker.mask("line-one\nline-two"), MASK);
  assert.equal(masker.mask("got line-two here"), `got ${MASK} here`);
});

test("maskDeep masks strings in nested values and keys, leaves other types", () => {
  const masker = new Masker(["tok"]);
  assert.deepEqual(masker.maskDeep({ a: "tok", tok: [1, "x tok", { b: null, c: true }] }), {
    a: MASK,
    [MASK]: [1, `x ${MASK}`, { b: null, c: true }],
  });
});
