/**
 * The YAML blocks of README.md and docs/*.md pass `kiln validate` (issue 10.5): configs as
 * configs, flows and node fragments (wrapped in `nodes:`) as flows. A block preceded by
 * `<!-- not-run: reason -->` is skipped, so blocks added later are checked by default.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import { kiln } from "./cli-support.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FILES = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const BLOCK = /(<!--\s*not-run:[^>]*-->\s*\n)?```(yaml|yml)\n([\s\S]*?)```/g;
const CONFIG_KEYS = ["server", "worker", "tasks", "plugins", "services", "webhooks", "webhook_delivery"];

describe("YAML blocks of the docs validate", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-docs-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const file of FILES) {
    const text = readFileSync(join(ROOT, file), "utf8");
    for (const match of text.matchAll(BLOCK)) {
      if (match[1] !== undefined) continue;
      const line = text.slice(0, match.index).split("\n").length + 1;
      const body = match[3] as string;
      it(`${file}:${line}`, async () => {
        const doc = parse(body) as Record<string, unknown>;
        const isConfig = Object.keys(doc).some((k) => CONFIG_KEYS.includes(k));
        const isFlow = "nodes" in doc || "steps" in doc;
        const source = isConfig || isFlow ? body : `nodes:\n${body.replace(/^/gm, "  ")}`;
        const target = join(dir, isConfig ? `kiln-${line}.yaml` : `flow-${line}.yaml`);
        writeFileSync(target, source);
        Object.assign(process.env, {
          KILN_TOKEN: "t",
          BACKUP_BUCKET: "b",
          APPROVALS_URL: "http://x",
          FORGE_WORKER_TOKEN: "t",
        });
        const r = await kiln(["validate", target]);
        assert.equal(r.code, 0, `${file}:${line}\n${r.out}${r.err}`);
      });
    }
  }
});
