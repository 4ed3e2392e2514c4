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

test("a resolved task kind serializes with compact exit-code lists", async () => {
  const { defineTaskKind } = await import("./define-task-kind.ts");
  const { taskKindToJson } = await import("./task-kind-json.ts");
  const json = taskKindToJson(defineTaskKind({ kind: "k", command: "c", exit_codes: { retry: [75, 111] } }));
  assert.deepEqual(json.exitCodes, { success: [0], retry: [75, 111], failure: ["1-255"] });
  assert.equal(JSON.parse(JSON.stringify(json)).timeoutAction, "signal");
});

test("defineTaskKind validates like the config file", async () => {
  const { defineTaskKind } = await import("./define-task-kind.ts");
  assert.throws(
    () => defineTaskKind({ kind: "k", command: "c", timeout_seconds: "abc", input_format: "xml", nope: 1 }),
    (error: Error & { code?: string }) =>
      error.code === "INVALID_CONFIG" &&
      error.message.includes('timeout_seconds: Expected "timeout_seconds" to be a positive number, got "abc"') &&
      error.message.includes('Unknown key "nope"') &&
      error.message.includes('Expected "input_format" to be one of env, json_stdin, json_file, args, got "xml"'),
  );
});
