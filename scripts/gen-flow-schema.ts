// Writes schema/flow.schema.json from the zod flow schemas. Run: node --import tsx scripts/gen-flow-schema.ts
// src/flow/definition/flow-json-schema.test.ts fails when the committed file is out of date.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { FLOW_JSON_SCHEMA_PATH, flowJsonSchemaText } from "../src/flow/definition/flow-json-schema.ts";

const root = new URL("..", import.meta.url).pathname;
const target = join(root, FLOW_JSON_SCHEMA_PATH);
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, flowJsonSchemaText());
console.log(`wrote ${FLOW_JSON_SCHEMA_PATH}`);
