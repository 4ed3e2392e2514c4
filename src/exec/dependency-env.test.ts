import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { resolveDependencySettings } from "../config/resolve-script-deps.ts";
import { isKilnError } from "../errors.ts";
import { ContentCache } from "./content-cache.ts";
import { buildTinyWheel, type FixtureServer, startFixtureServer } from "./dependency-fixtures.ts";
import { type DependencyEnvParams, prepareDependencyEnv } from "./dependency-env.ts";
import { Masker } from "./masker.ts";

describe("dependency environments", { timeout: 300_000 }, () => {
  let dir: string;
  let index: FixtureServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-deps-"));
    index = await startFixtureServer();
    index.addWheel("kilntiny", buildTinyWheel(join(dir, "wheels"), "kilntiny", "1.0", "tiny-ok"));
  });
  after(async () => {
    await index.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const params = (cacheDir: string, packages: string[], logs: string[], mask = new Masker()): DependencyEnvParams => ({
    kind: "py",
    requirements: { python: { type: "list", packages }, node: null },
    settings: { ...resolveDependencySettings({ pip_index_url: `${index.url}/simple` }, dir) },
    cache: new ContentCache({ root: join(dir, cacheDir), maxSizeBytes: 1024 ** 3 }),
    log: (_level, message) => logs.push(message),
    mask: (t) => mask.mask(t),
    baseEnv: process.env,
  });

  it("builds a venv from a local index once, then reuses it", async () => {
    const logs: string[] = [];
    const first = await prepareDependencyEnv(params("a", ["kilntiny==1.0"], logs));
    assert.ok(first.env.VIRTUAL_ENV);
    const python = join(first.env.VIRTUAL_ENV, "bin", "python");
    assert.equal(
      execFileSync(python, ["-c", "import kilntiny; print(kilntiny.VALUE)"], { encoding: "utf8" }).trim(),
      "tiny-ok",
    );
    assert.ok(
      logs.some((l) => l.startsWith("Building the Python environment")),
      logs.join("\n"),
    );
    assert.ok(
      logs.some((l) => /\[pip install\].*kilntiny/.test(l)),
      "the installer's output is logged",
    );

    const again: string[] = [];
    const second = await prepareDependencyEnv(params("a", ["kilntiny==1.0"], again));
    assert.equal(second.env.VIRTUAL_ENV, first.env.VIRTUAL_ENV);
    assert.ok(!again.some((l) => l.startsWith("Building")), again.join("\n"));
    assert.ok(again.some((l) => l.startsWith("Using the cached Python environment")));
  });

  it("concurrent first builds of one hash build once", async () => {
    const logs: string[] = [];
    // Separate cache objects over one directory, as separate worker processes would have.
    const results = await Promise.all([1, 2, 3].map(() => prepareDependencyEnv(params("b", ["kilntiny"], logs))));
    assert.equal(new Set(results.map((r) => r.env.VIRTUAL_ENV)).size, 1);
    assert.equal(logs.filter((l) => l.startsWith("Building the Python environment")).length, 1, logs.join("\n"));
  });

  it("a failed install fails with DEPENDENCY_BUILD_FAILED, the installer's output masked, and caches nothing", async () => {
    const logs: string[] = [];
    const p = params("c", ["kiln-no-such-package-hushhush==9"], logs, new Masker(["hushhush"]));
    const error = await prepareDependencyEnv(p).then(
      () => assert.fail("the build should fail"),
      (e: unknown) => e,
    );
    assert.ok(isKilnError(error) && error.code === "DEPENDENCY_BUILD_FAILED", String(error));
    assert.equal(error.retryable, false);
    assert.match(error.message, /pip install exited with code 1/);
    assert.match(String(error.data?.output), /No matching distribution|Could not find a version/);
    assert.doesNotMatch(`${error.message}${JSON.stringify(error.data)}${logs.join("\n")}`, /hushhush/);
    assert.deepEqual(await p.cache.listEntries(), []);
  });

  it("a requirements.txt path is read when the environment is built", async () => {
    writeFileSync(join(dir, "requirements.txt"), "kilntiny==1.0\n");
    const logs: string[] = [];
    const env = await prepareDependencyEnv({
      ...params("d", [], logs),
      requirements: { python: { type: "file", path: join(dir, "requirements.txt") }, node: null },
    });
    assert.ok(env.path[0]?.endsWith("/venv/bin"));
  });

  it("a Node package list installs into node_modules, exposed with NODE_PATH", async () => {
    const pkg = join(dir, "tiny-node");
    execFileSync("mkdir", ["-p", pkg]);
    writeFileSync(
      join(pkg, "package.json"),
      JSON.stringify({ name: "kiln-tiny-node", version: "1.0.0", main: "index.js" }),
    );
    writeFileSync(join(pkg, "index.js"), "module.exports = 'node-tiny-ok';\n");
    const logs: string[] = [];
    const env = await prepareDependencyEnv({
      ...params("e", [], logs),
      requirements: { python: null, node: { type: "list", packages: [`file:${pkg}`] } },
    });
    const out = execFileSync(process.execPath, ["-e", "console.log(require('kiln-tiny-node'))"], {
      encoding: "utf8",
      env: { ...process.env, NODE_PATH: env.env.NODE_PATH },
    });
    assert.equal(out.trim(), "node-tiny-ok");

    // A package.json path: its relative file: dependency resolves beside it, not in the cache.
    const project = join(dir, "project");
    execFileSync("mkdir", ["-p", project]);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "p", private: true, dependencies: { "kiln-tiny-node": "file:../tiny-node" } }),
    );
    const fromManifest = await prepareDependencyEnv({
      ...params("f", [], logs),
      requirements: { python: null, node: { type: "file", path: join(project, "package.json") } },
    });
    const again = execFileSync(process.execPath, ["-e", "console.log(require('kiln-tiny-node'))"], {
      encoding: "utf8",
      env: { ...process.env, NODE_PATH: fromManifest.env.NODE_PATH },
    });
    assert.equal(again.trim(), "node-tiny-ok");
  });
});
