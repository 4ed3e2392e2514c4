/**
 * `kiln nodes list|show` through the CLI: every node type of the library (and the config's
 * plugins), human tables and --json, with the params schema the validator uses.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { CatalogueEntry } from "../../src/flow/nodes/node-catalogue.ts";
import { NODE_LIBRARY } from "../../src/flow/nodes/library.ts";
import { kiln } from "./cli-support.ts";

const FLOWS = join(import.meta.dirname, "..", "..", "examples", "flows");

describe("kiln nodes", () => {
  it("list --json holds every library node type with its params; the table shows them too", async () => {
    const r = await kiln(["nodes", "list", "--json"]);
    assert.equal(r.code, 0, r.err);
    const entries = r.json() as CatalogueEntry[];
    assert.deepEqual(
      entries.map((e) => e.type),
      NODE_LIBRARY.map((n) => n.type),
    );
    const put = entries.find((e) => e.type === "storage.put");
    assert.deepEqual(
      put?.params?.filter((p) => p.required).map((p) => p.name),
      ["store", "key", "value"],
    );
    const table = await kiln(["nodes", "list"]);
    assert.match(table.out, /^TYPE\s+KIND\s+PARAMS/);
    assert.match(table.out, /\nemail\.receive\s+step\s+imap\*, folder/);
  });

  it("show prints one type's params, nested fields included; --json and aliases work", async () => {
    const r = await kiln(["nodes", "show", "email.send"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^email\.send — step node/);
    assert.match(r.out, /\nsmtp\.starttls\s+auto \| always \| never\s+auto/);
    const json = (await kiln(["nodes", "show", "run", "--json"])).json() as CatalogueEntry;
    assert.equal(json.type, "script");
    assert.deepEqual(json.aliases, ["run"]);
  });

  it("includes the config's plugins and refuses an unknown type with a suggestion", async () => {
    const withPlugins = (
      await kiln(["--config", join(FLOWS, "kiln.yaml"), "nodes", "list", "--json"])
    ).json() as CatalogueEntry[];
    assert.ok(withPlugins.some((e) => e.type === "text.slugify"));
    const unknown = await kiln(["nodes", "show", "storage.gte"]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.err, /NODE_TYPE_NOT_FOUND.*did you mean "storage\.get"/);
  });
});
