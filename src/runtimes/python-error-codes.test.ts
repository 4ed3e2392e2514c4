import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { PYTHON_ERRORS_PATH, pythonErrorCodesText } from "../../scripts/python-errors-source.ts";

it("the Python runtime's error codes match src/errors.ts (else: npm run gen:python-errors)", () => {
  const root = new URL("../..", import.meta.url).pathname;
  const committed = readFileSync(join(root, PYTHON_ERRORS_PATH), "utf8");
  assert.ok(committed === pythonErrorCodesText(), `${PYTHON_ERRORS_PATH} is stale: run npm run gen:python-errors`);
});
