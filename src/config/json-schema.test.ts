import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { configJsonSchema, configJsonSchemaText, JSON_SCHEMA_PATH } from "./json-schema.ts";

const root = new URL("../..", import.meta.url).pathname;

test("schema/kiln.schema.json is up to date with the zod schemas (run scripts/gen-schema.ts)", () => {
  const committed = readFileSync(join(root, JSON_SCHEMA_PATH), "utf8");
  assert.equal(committed, configJsonSchemaText(), "regenerate with: node --import tsx scripts/gen-schema.ts");
});

test("the JSON Schema describes the task contract keys", () => {
  const schema = configJsonSchema() as {
    properties: { tasks: { items: { properties: Record<string, unknown>; required: string[] } } };
  };
  const task = schema.properties.tasks.items;
  for (const key of ["kind", "command", "input_format", "output_format", "exit_codes", "timeout_seconds", "env"]) {
    assert.ok(key in task.properties, key);
  }
  assert.deepEqual(task.required.sort(), ["command", "kind"]);
});
