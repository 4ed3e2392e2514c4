/** `kiln audit` against a real `kiln dev`: who changed what, never a secret value (issue 15.4). */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type KilnProcess, kiln, startKiln } from "./cli-support.ts";

describe("kiln audit", { timeout: 120_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  let g: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-audit-"));
    assert.equal((await kiln(["init", dir])).code, 0);
    dev = await startKiln(["dev", "--port", "0"], dir);
    g = ["--server", dev.url, "--data", join(dir, ".kiln")];
  });
  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists secret changes, starts and refusals with their actor and target, without values", async () => {
    assert.equal((await kiln([...g, "secrets", "set", "API_KEY", "value-that-must-not-leak"])).code, 0);
    const started = await kiln([...g, "start", "hello", "-i", '{"name":"audit"}']);
    assert.equal(started.code, 0, started.err);
    const refused = await kiln([...g, "start", "nosuch"]);
    assert.notEqual(refused.code, 0);

    const r = await kiln([...g, "audit", "--json"]);
    assert.equal(r.code, 0, r.err);
    const items = (
      r.json() as { items: { action: string; target: Record<string, string>; outcome: string; actor: string }[] }
    ).items;
    const actions = items.map((i) => `${i.action}:${i.outcome}`);
    assert.ok(actions.includes("setSecret:ok"), actions.join(" "));
    assert.ok(actions.includes("startRun:ok"), actions.join(" "));
    assert.ok(actions.includes("startRun:WORKFLOW_NOT_FOUND"), actions.join(" "));
    assert.deepEqual(items.find((i) => i.action === "setSecret")?.target, { name: "API_KEY" });
    assert.ok(!r.out.includes("value-that-must-not-leak"));

    const table = await kiln([...g, "audit", "--action", "setSecret"]);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /setSecret\s+API_KEY\s+ok/);
    assert.doesNotMatch(table.out, /startRun/);
  });
});
