/**
 * The shell examples of docs/webhooks.md run, in order, in one shell against a real `kiln dev`:
 * the page's commands are the ones users copy, so they must work as written.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KILN_BIN, type KilnProcess, startKiln } from "./cli-support.ts";

const DOC = join(import.meta.dirname, "..", "..", "docs", "webhooks.md");

describe("docs/webhooks.md shell examples", { timeout: 180_000 }, () => {
  let dir: string;
  let dev: KilnProcess;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-docs-hooks-"));
    dev = await startKiln(["dev", "--port", "0"], dir);
  });
  after(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("run as written", () => {
    const blocks = [...readFileSync(DOC, "utf8").matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    assert.ok(blocks.length >= 4, "the page has its shell examples");
    // `kiln` on PATH is this checkout's CLI.
    const bin = join(dir, "bin");
    spawnSync("mkdir", ["-p", bin]);
    writeFileSync(join(bin, "kiln"), `#!/bin/sh\nexec "${process.execPath}" "${KILN_BIN}" "$@"\n`);
    chmodSync(join(bin, "kiln"), 0o755);
    const script = `set -euo pipefail\n${blocks.join("\n")}`;
    const r = spawnSync("bash", ["-c", script], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, KILN_SERVER: dev.url },
      timeout: 150_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\n${dev.output()}`);
    assert.match(r.stdout, /"status":"completed"/);
  });
});
