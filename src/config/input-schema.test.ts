import assert from "node:assert/strict";
import { test } from "node:test";
import { isKilnError } from "../errors.ts";
import {
  assertInputMatches,
  checkInputSchema,
  maskInputFields,
  schemaSecretFields,
  secretInputValues,
} from "./input-schema.ts";

const schema = {
  type: "object",
  required: ["db"],
  properties: {
    db: { type: "object", required: ["host"], properties: { host: { type: "string" }, pass: { "x-secret": true } } },
    key: { type: "string", "x-secret": true },
  },
};

test("an input that matches passes; one that does not names every field", () => {
  assertInputMatches("k", schema, { db: { host: "h" } });
  assert.throws(
    () => assertInputMatches("k", schema, { db: { host: 5 } }),
    (e: unknown) => isKilnError(e) && e.code === "INVALID_INPUT" && /"db\.host" must be string/.test(e.message),
  );
  assert.throws(() => assertInputMatches("k", schema, {}), /"db" is required/);
  assert.throws(() => assertInputMatches("k", schema, null), /"\(input\)" must be object/);
});

test("an invalid schema is INVALID_CONFIG at load", () => {
  assert.throws(
    () => checkInputSchema({ type: "nope" }, "The task kind k"),
    (e: unknown) =>
      isKilnError(e) && e.code === "INVALID_CONFIG" && /input_schema is not a valid JSON Schema/.test(e.message),
  );
});

test("secret fields: x-secret paths, their values, and a masked copy", () => {
  assert.deepEqual(schemaSecretFields(schema), ["db.pass", "key"]);
  const input = { db: { host: "h", pass: "p4ss" }, key: { n: 1 } };
  assert.deepEqual(secretInputValues(input, ["db.pass", "key", "missing.x"]), ["p4ss", '{"n":1}']);
  assert.deepEqual(maskInputFields(input, ["db.pass", "key"]), { db: { host: "h", pass: "***" }, key: "***" });
  assert.equal(input.db.pass, "p4ss", "the input itself is not changed");
});
