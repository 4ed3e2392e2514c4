// Writes the node reference section of docs/flows.md from the node catalogue (`kiln nodes`).
// Run: npm run docs:nodes. src/flow/nodes/node-catalogue.test.ts fails when the committed section is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nodeCatalogue, nodeReferenceMarkdown, withNodeReference } from "../src/flow/nodes/node-catalogue.ts";
import { nodeTypeRegistry } from "../src/flow/nodes/node-type.ts";

const target = join(new URL("..", import.meta.url).pathname, "docs", "flows.md");
const reference = nodeReferenceMarkdown(nodeCatalogue(nodeTypeRegistry()));
writeFileSync(target, withNodeReference(readFileSync(target, "utf8"), reference));
console.log("wrote the node reference of docs/flows.md");
