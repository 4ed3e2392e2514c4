import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { detectRuntime } from "./detect-runtime.ts";

describe("detectRuntime (deploy from stdin)", () => {
  it("recognises Python by its def and import lines", () => {
    assert.equal(detectRuntime("def workflow(input, ctx):\n    return 1\n"), "python");
    assert.equal(detectRuntime("import json\n\nasync def workflow(input, ctx) -> dict:\n    pass\n"), "python");
    assert.equal(detectRuntime("from kiln_runtime import Context\n"), "python");
    assert.equal(detectRuntime("import os, sys\n"), "python");
  });

  it("recognises a YAML flow and leaves JavaScript and TypeScript to the default", () => {
    assert.equal(detectRuntime("metadata: { name: a }\nnodes:\n  - id: x\n"), "flow");
    assert.equal(detectRuntime(`import fs from "node:fs";\nasync function workflow(input) { return 1; }\n`), undefined);
    assert.equal(detectRuntime(`import "./setup.js";\nexport default async () => "def workflow(x):"`), undefined);
    assert.equal(detectRuntime("const nodes = 1;\nexport default async function () { return nodes; }\n"), undefined);
  });
});
