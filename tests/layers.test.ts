import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const depcruise = join(root, "node_modules", ".bin", "depcruise");
const config = join(root, ".dependency-cruiser.cjs");

/**
 * Runs the layer check as `npm run lint:layers` does, on `src/` under `cwd`: its exit code and
 * its violations, one line each (`rule: a -> b -> …`).
 */
async function checkLayers(cwd: string): Promise<{ code: number; violations: string[] }> {
  let code = 0;
  let stdout: string;
  try {
    ({ stdout } = await run(depcruise, ["src", "--config", config, "--output-type", "err"], { cwd }));
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string };
    if (typeof failed.code !== "number" || failed.stdout === undefined) throw error;
    code = failed.code;
    stdout = failed.stdout;
  }
  const violations = stdout
    .replace(/\s*→\s*/g, " -> ")
    .split("\n")
    .filter((line) => line.startsWith("  error "))
    .map((line) => line.slice("  error ".length).trim());
  return { code, violations };
}

async function writeTree(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

describe("the layer check (.dependency-cruiser.cjs)", () => {
  it("refuses an upward import, a cycle between folders and a folder it does not place", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kiln-layers-"));
    try {
      await writeTree(dir, {
        // engine is below worker: importing the loop from the domain is upward.
        "src/engine/status.ts": 'import { loop } from "../worker/loop.ts";\nexport const status = loop;\n',
        "src/worker/loop.ts": "export const loop = 1;\n",
        // exec and runtimes import each other: a cycle between folders.
        "src/exec/spawn.ts": 'import { host } from "../runtimes/host.ts";\nexport const spawn = () => host;\n',
        "src/runtimes/host.ts": 'import { spawn } from "../exec/spawn.ts";\nexport const host = () => spawn;\n',
        // a folder the layer order does not place is refused until it is given a place.
        "src/gadgets/gadget.ts": 'import { loop } from "../worker/loop.ts";\nexport const gadget = loop;\n',
        // test code may import upward.
        "src/engine/status.test.ts": 'import { loop } from "../worker/loop.ts";\nexport const t = loop;\n',
      });
      const { code, violations } = await checkLayers(dir);
      assert.notEqual(code, 0, "depcruise exits non-zero on a violation, so npm run ci fails");
      const seen = violations;
      assert.ok(seen.includes("layer-engine: src/engine/status.ts -> src/worker/loop.ts"), seen.join("\n"));
      assert.ok(seen.includes("layer-exec: src/exec/spawn.ts -> src/runtimes/host.ts"), seen.join("\n"));
      assert.ok(
        seen.includes(
          "no-module-cycle-between-folders: src/exec/spawn.ts -> src/runtimes/host.ts -> src/exec/spawn.ts",
        ),
        seen.join("\n"),
      );
      assert.ok(seen.includes("no-folder-cycle: src/exec -> src/runtimes -> src/exec"), seen.join("\n"));
      assert.ok(seen.includes("layer-unlisted-importer: src/gadgets/gadget.ts -> src/worker/loop.ts"), seen.join("\n"));
      assert.ok(!seen.some((v) => v.includes("status.test.ts")), "test code is exempt");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("passes on Kiln's own src/", async () => {
    const { code, violations } = await checkLayers(root);
    assert.deepEqual(violations, []);
    assert.equal(code, 0);
  });
});
