#!/usr/bin/env node
// Builds dist/ from src/: one JavaScript file per TypeScript module (esbuild, same layout, so the
// `new URL("../..", import.meta.url)` paths to python/ and bin/ still resolve), the plain .mjs
// modules and UI assets copied beside them, and with --types the .d.ts files (tsc). Runs from
// `prepare`, so it must stay fast: JavaScript only there (~1 s), the types only when packing.
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const src = join(root, "src");
const dist = join(root, "dist");
// `prepare` also runs for `npm pack`/`npm publish` (after `prepack`, so a types build there would
// be wiped): the tarball needs the declarations, a clone's `npm install` does not.
const withTypes = process.argv.includes("--types") || ["pack", "publish"].includes(process.env.npm_command ?? "");

/** Every file under `dir`, recursively. */
function walk(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const files = walk(src);
const isTest = (f) => f.endsWith(".test.ts") || /test-helpers\.ts$|test-harness\.ts$/.test(f);
const modules = files.filter((f) => f.endsWith(".ts") && !isTest(f));
const assets = files.filter((f) => !f.endsWith(".ts"));

rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: modules,
  outdir: dist,
  outbase: src,
  // bundle + every import external = one output per module, with relative `.ts` imports
  // rewritten to `.js` (esbuild does not rewrite specifiers when it does not bundle).
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning",
  plugins: [
    {
      name: "externalize",
      setup(b) {
        b.onResolve({ filter: /.*/ }, (args) => {
          if (args.kind === "entry-point") return undefined;
          const rel = args.path.startsWith("./") || args.path.startsWith("../");
          return { path: rel ? args.path.replace(/\.ts$/, ".js") : args.path, external: true };
        });
      },
    },
  ],
});
for (const asset of assets) cpSync(asset, join(dist, relative(src, asset)));

if (withTypes) {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
  // tsc keeps the sources' `./x.ts` specifiers in declarations; point them at the emitted files.
  for (const file of walk(dist).filter((f) => f.endsWith(".d.ts"))) {
    const text = readFileSync(file, "utf8");
    const fixed = text.replace(/(["'])(\.{1,2}\/[^"']*)\.ts\1/g, "$1$2.js$1");
    if (fixed !== text) writeFileSync(file, fixed);
  }
}
