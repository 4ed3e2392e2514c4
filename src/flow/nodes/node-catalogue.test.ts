import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isKilnError } from "../../errors.ts";
import {
  type CatalogueParam,
  catalogueEntry,
  NODE_REFERENCE_BEGIN,
  NODE_REFERENCE_END,
  nodeCatalogue,
  nodeReferenceMarkdown,
  withNodeReference,
} from "./node-catalogue.ts";
import { nodeTypeRegistry } from "./node-type.ts";
import { NODE_LIBRARY } from "./library.ts";
import { Sandbox } from "../expressions/sandbox.ts";
import { validateFlow } from "../definition/validate-flow.ts";

const DOC = join(import.meta.dirname, "..", "..", "..", "docs", "flows.md");

describe("node catalogue", () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await Sandbox.create();
  });
  after(() => sandbox.dispose());

  it("lists every node type of the library, in its order", () => {
    assert.deepEqual(
      nodeCatalogue(nodeTypeRegistry()).map((e) => e.type),
      NODE_LIBRARY.map((n) => n.type),
    );
  });

  it("docs/flows.md's node reference is the generated one (regenerate with: npm run docs:nodes)", () => {
    const committed = readFileSync(DOC, "utf8");
    const fresh = withNodeReference(committed, nodeReferenceMarkdown(nodeCatalogue(nodeTypeRegistry())));
    assert.equal(committed, fresh, "docs/flows.md is stale: run npm run docs:nodes");
  });

  it("a stale section is detected: the generated text differs once a param is added", () => {
    const catalogue = nodeCatalogue(nodeTypeRegistry());
    const doc = `a\n${NODE_REFERENCE_BEGIN}\n${NODE_REFERENCE_END}\nb\n`;
    const fresh = withNodeReference(doc, nodeReferenceMarkdown(catalogue));
    const changed = catalogue.map((e) =>
      e.type === "sleep" && e.params !== null
        ? { ...e, params: [...e.params, { ...(e.params[0] as CatalogueParam), name: "extra" }] }
        : e,
    );
    assert.notEqual(withNodeReference(fresh, nodeReferenceMarkdown(changed)), fresh);
    assert.match(fresh, /^a\n<!-- node-reference:begin[^\n]*\n\n#### `script` \(alias `run`\)/);
  });

  it("its params are the validator's: each declared required param is enforced and unknown keys are refused", () => {
    for (const entry of nodeCatalogue(nodeTypeRegistry())) {
      if (entry.params === null) continue;
      const flow = `nodes:\n  n:\n    type: ${entry.type}\n    params: { not_a_param_of_this: 1 }\n`;
      const problems = validateFlow(flow, { code: sandbox }).map((p) => p.message);
      assert.ok(
        problems.some((m) => m.includes('"not_a_param_of_this"')),
        `${entry.type}: ${problems.join("; ")}`,
      );
      for (const param of entry.params.filter((p) => p.required)) {
        assert.ok(
          problems.some((m) => m.includes(`"${param.name}"`)),
          `${entry.type} requires ${param.name}: ${problems.join("; ")}`,
        );
      }
    }
  });

  it("show resolves aliases and names the known types for an unknown one", () => {
    const catalogue = nodeCatalogue(nodeTypeRegistry());
    assert.equal(catalogueEntry(catalogue, "run").type, "script");
    assert.throws(
      () => catalogueEntry(catalogue, "storage.gte"),
      (e) => isKilnError(e) && e.code === "NODE_TYPE_NOT_FOUND" && /did you mean "storage.get"/.test(e.message),
    );
  });
});
