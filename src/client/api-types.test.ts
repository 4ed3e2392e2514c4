import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { API_TYPES_PATH, apiTypesText } from "../../scripts/api-types-source.ts";

it("the committed API types match the OpenAPI document (else: npm run gen:api-types)", async () => {
  const root = new URL("../..", import.meta.url).pathname;
  const committed = readFileSync(join(root, API_TYPES_PATH), "utf8");
  assert.ok(committed === (await apiTypesText()), `${API_TYPES_PATH} is stale: run npm run gen:api-types`);
});
