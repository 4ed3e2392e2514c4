import assert from "node:assert/strict";
import { test } from "node:test";
import { formatExitCodes, parseExitCodes } from "./exit-codes.ts";

test("exit-code lists accept numbers and inclusive ranges", () => {
  assert.deepEqual(parseExitCodes([0]), [0]);
  assert.deepEqual(parseExitCodes([75, "100-102", 101, " 3 - 4 "]), [3, 4, 75, 100, 101, 102]);
  assert.equal(parseExitCodes(["1-255"]).length, 255);
  assert.deepEqual(parseExitCodes(7), [7]);
  assert.throws(() => parseExitCodes(["9-3"]), /low to high/);
  assert.throws(() => parseExitCodes(["1-256"]), /at most 255/);
});

test("code sets format back compactly", () => {
  assert.deepEqual(formatExitCodes(new Set([0])), [0]);
  assert.deepEqual(formatExitCodes([1, 2, 3, 4, 75, 111, 112]), ["1-4", 75, 111, 112]);
});
