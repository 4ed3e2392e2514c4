// Writes schema/kiln.schema.json from the zod config schemas. Run: node --import tsx scripts/gen-schema.ts
// src/config/json-schema.test.ts fails when the committed file is out of date.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { configJsonSchemaText, JSON_SCHEMA_PATH } from "../src/config/json-schema.ts";

const root = new URL("..", import.meta.url).pathname;
const target = join(root, JSON_SCHEMA_PATH);
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, configJsonSchemaText());
console.log(`wrote ${JSON_SCHEMA_PATH}`);
