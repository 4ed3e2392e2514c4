import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isKilnError } from "../errors.ts";
import { parseConfig } from "./load-config.ts";

/** The coded error parseConfig fails with. */
function failure(text: string): { code: string; message: string } {
  try {
    parseConfig(text, { env: {} });
  } catch (error) {
    assert.ok(isKilnError(error), `an uncoded ${(error as Error)?.stack}`);
    return { code: error.code, message: error.message };
  }
  assert.fail("the config was accepted");
}

describe("YAML documents that parse but cannot be built", () => {
  test("a merge key of a scalar is an INVALID_CONFIG problem, not an uncoded throw", () => {
    const { code, message } = failure("base: &a 1\nworker:\n  <<: *a\n");
    assert.equal(code, "INVALID_CONFIG");
    assert.match(message, /kiln\.yaml:1:1: Merge sources must be maps/);
  });

  test("a collection as a key holding a bad merge is an INVALID_CONFIG problem", () => {
    assert.equal(failure("{{<<: *a").code, "INVALID_CONFIG");
    assert.equal(failure("base: &a 1\n? {<<: *a}\n: x\n").code, "INVALID_CONFIG");
  });

  test("an alias bomb is an INVALID_CONFIG problem", () => {
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      lines.push(`${next}: &${next} [${Array(10).fill(`*${prev}`).join(", ")}]`);
    }
    const { code } = failure(`${lines.join("\n")}\n`);
    assert.equal(code, "INVALID_CONFIG");
  });
});
