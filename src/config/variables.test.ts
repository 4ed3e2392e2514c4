// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KilnError } from "../errors.ts";
import { isRunTimeVariable, replaceVariables, substituteLoadTime } from "./variables.ts";

const origin = { file: "kiln.yaml", line: 3, column: 7 };

test("references: plain, default, secret, escape", () => {
  const seen: string[] = [];
  const out = replaceVariables("a ${X} b ${Y:-d e} c ${secret:S} d $${Z} e ${not valid}", (ref) => {
    seen.push(`${ref.secret ? "secret:" : ""}${ref.name}=${ref.defaultValue}`);
    return ref.secret ? undefined : "v";
  });
  assert.equal(out, "a v b v c ${secret:S} d ${Z} e ${not valid}");
  assert.deepEqual(seen, ["X=null", "Y=d e", "secret:S=null"]);
});

test("load time: empty counts as unset only with :-", () => {
  const env = { E: "", V: "val" };
  const run = (text: string) => substituteLoadTime(text, { env, keepRunTime: false }, origin);
  assert.equal(run("${E}"), "");
  assert.equal(run("${E:-x}"), "x");
  assert.equal(run("${V:-x}"), "val");
  assert.equal(run("${MISSING:-}"), "");
});

test("load time: run-time prefixes are kept only where asked", () => {
  assert.ok(isRunTimeVariable("INPUT_X") && isRunTimeVariable("STATE_Y") && isRunTimeVariable("KILN_RUN_ID"));
  assert.ok(!isRunTimeVariable("INPUTX") && !isRunTimeVariable("HOME"));
  const kept = substituteLoadTime("${INPUT_A} ${STATE_B:-0} ${KILN_RUN_ID}", { env: {}, keepRunTime: true }, origin);
  assert.equal(kept, "${INPUT_A} ${STATE_B:-0} ${KILN_RUN_ID}");
  assert.equal(substituteLoadTime("${KILN_TOKEN}", { env: { KILN_TOKEN: "t" }, keepRunTime: false }, origin), "t");
});

test("load time: an unset variable is CONFIG_VARIABLE_UNSET with file and line", () => {
  assert.throws(
    () => substituteLoadTime("x ${NOPE}", { env: {}, keepRunTime: false }, origin),
    (error: unknown) =>
      error instanceof KilnError &&
      error.code === "CONFIG_VARIABLE_UNSET" &&
      error.message.startsWith("kiln.yaml:3:7: the variable NOPE is not set") &&
      error.data?.variable === "NOPE",
  );
});

test("provider secrets: ${secret:PROVIDER:REF} is one secret reference named PROVIDER:REF", () => {
  const seen: string[] = [];
  const text = "${secret:env:API_KEY} ${secret:file:/run/k} ${secret:cmd:pass show db/x} ${secret:abc:-d} ${secret:S}";
  const out = replaceVariables(text, (ref) => {
    seen.push(`${ref.secret}|${ref.name}|${ref.defaultValue}`);
    return undefined;
  });
  assert.equal(out, text);
  assert.deepEqual(seen, [
    "true|env:API_KEY|null",
    "true|file:/run/k|null",
    "true|cmd:pass show db/x|null",
    "true|abc|d",
    "true|S|null",
  ]);
  // Load-time substitution leaves every secret for the worker.
  assert.equal(
    substituteLoadTime("${secret:env:X}", { env: { X: "no" }, keepRunTime: true }, origin),
    "${secret:env:X}",
  );
});
