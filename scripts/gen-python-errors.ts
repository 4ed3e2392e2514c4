// Writes python/kiln_runtime/error_codes.py from src/errors.ts. Run: npm run gen:python-errors
// src/runtimes/python-error-codes.test.ts fails when the committed file is out of date.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PYTHON_ERRORS_PATH, pythonErrorCodesText } from "./python-errors-source.ts";

const root = new URL("..", import.meta.url).pathname;
writeFileSync(join(root, PYTHON_ERRORS_PATH), pythonErrorCodesText());
console.log(`wrote ${PYTHON_ERRORS_PATH}`);
