// Writes src/client/api-types.ts from the server's OpenAPI document. Run: npm run gen:api-types
// src/client/api-types.test.ts fails when the committed file is out of date.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { API_TYPES_PATH, apiTypesText } from "./api-types-source.ts";

const root = new URL("..", import.meta.url).pathname;
writeFileSync(join(root, API_TYPES_PATH), await apiTypesText());
console.log(`wrote ${API_TYPES_PATH}`);
