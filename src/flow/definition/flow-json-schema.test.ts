import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FLOW_JSON_SCHEMA_PATH, flowJsonSchema, flowJsonSchemaText } from "./flow-json-schema.ts";

const root = new URL("../../..", import.meta.url).pathname;

test("schema/flow.schema.json is up to date with the zod schemas (run scripts/gen-flow-schema.ts)", () => {
  const committed = readFileSync(join(root, FLOW_JSON_SCHEMA_PATH), "utf8");
  assert.equal(committed, flowJsonSchemaText(), "regenerate with: node --import tsx scripts/gen-flow-schema.ts");
});

test("the JSON Schema describes nodes and steps", () => {
  const schema = flowJsonSchema() as {
    properties: Record<string, { additionalProperties?: { properties: Record<string, unknown>; required: string[] } }>;
  };
  for (const key of ["metadata", "params", "max_visits", "nodes", "steps"]) assert.ok(key in schema.properties, key);
  const node = schema.properties.nodes?.additionalProperties;
  assert.ok(node);
  for (const key of ["type", "run", "params", "next", "retry", "timeout", "needs", "when", "compensate"]) {
    assert.ok(key in node.properties, key);
  }
  // `type` may be left out when `run` is given (the script shorthand), so no key is required.
  assert.equal(node.required, undefined);
});
