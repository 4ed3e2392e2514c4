import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { declaredVersion } from "./declared-version.ts";

describe("declaredVersion", () => {
  it("reads defineWorkflow({ version }) literals in JS/TS", () => {
    const at = (source: string) => declaredVersion(source, "node")?.version;
    assert.equal(at(`export default defineWorkflow({ name: "order", version: "2.1" }, async () => 1);`), "2.1");
    assert.equal(at(`defineWorkflow({\n  version: 3,\n  name: 'x',\n}, fn)`), "3");
    assert.equal(at("defineWorkflow({ version: `v4` }, fn)"), "v4");
    assert.equal(at(`defineWorkflow({ name: "no-version" }, fn)`), undefined);
    assert.equal(at("defineWorkflow({ version: String(n) }, fn)"), undefined, "a computed version is not known");
    assert.equal(at(`async function workflow() { return { version: "9" }; }`), undefined);
  });

  it("reads a flow's metadata.version and ignores Python", () => {
    assert.deepEqual(declaredVersion("metadata: { name: a, version: 5 }\nnodes: {}\n", "flow"), {
      version: "5",
      where: "the flow's metadata.version",
    });
    assert.equal(declaredVersion("nodes: {}\n", "flow"), undefined);
    assert.equal(declaredVersion("nodes: [unclosed\n", "flow"), undefined);
    assert.equal(declaredVersion(`def workflow(input, ctx):\n    return 1\n`, "python"), undefined);
  });
});
