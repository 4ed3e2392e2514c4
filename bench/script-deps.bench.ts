// First-run vs cached-run cost of a dependency environment: one attempt of a Python task with
// `requirements: [a tiny pure-Python package]` (served by a local "simple" index) and of a Node
// task with a tiny local `file:` package, each with an empty cache (the environment is built) and
// then with the cache warm (reused), next to the same script without requirements. Every cold
// run uses a fresh cache directory; medians are reported.
// Run: node --import tsx bench/script-deps.bench.ts [cold-runs] [cached-runs]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { defineTaskKind } from "../src/config/define-task-kind.ts";
import { resolveDependencySettings } from "../src/config/resolve-script-deps.ts";
import { buildTinyWheel, startFixtureServer } from "../src/exec/dependency-fixtures.ts";
import { scriptDependencies } from "../src/exec/prepare-script.ts";
import { runScript } from "../src/exec/run-script.ts";
import { benchContext, silentHost } from "./script-bench-host.ts";
import { median } from "./support.ts";

const COLD = Number(process.argv[2] ?? 3);
const CACHED = Number(process.argv[3] ?? 10);
const host = silentHost;
const context = benchContext("deps");

const dir = mkdtempSync(join(tmpdir(), "kiln-bench-deps-"));
const index = await startFixtureServer();
index.addWheel("kilntiny", buildTinyWheel(join(dir, "wheels"), "kilntiny", "1.0", "ok"));
const pkg = join(dir, "tiny-node");
mkdirSync(pkg);
writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "kiln-tiny-node", version: "1.0.0" }));
writeFileSync(join(pkg, "index.js"), "module.exports = 'ok';\n");
const settings = resolveDependencySettings({ pip_index_url: `${index.url}/simple` }, dir);

const kinds = {
  python: {
    plain: defineTaskKind({ kind: "py", command: "python3", args: ["-c", "print('ok')"] }),
    deps: defineTaskKind({
      kind: "py",
      command: "python3",
      args: ["-c", "import kilntiny; print(kilntiny.VALUE)"],
      requirements: ["kilntiny==1.0"],
    }),
  },
  node: {
    plain: defineTaskKind({ kind: "js", command: "node", args: ["-e", "console.log('ok')"] }),
    deps: defineTaskKind({
      kind: "js",
      command: "node",
      args: ["-e", "console.log(require('kiln-tiny-node'))"],
      requirements: [`file:${pkg}`],
    }),
  },
};

const attempt = async (kind: ReturnType<typeof defineTaskKind>, cacheDir: string): Promise<number> => {
  const start = performance.now();
  const result = await runScript(kind, {
    input: null,
    context,
    host,
    dependencies: scriptDependencies(settings, cacheDir),
  });
  if (result.verdict !== "success") throw result.error;
  return performance.now() - start;
};

const load = loadavg()
  .map((l) => l.toFixed(2))
  .join(" ");
console.log(`# script-deps bench: ${COLD} cold, ${CACHED} cached runs; load average before: ${load}`);
for (const [language, k] of Object.entries(kinds)) {
  const cold: number[] = [];
  let warmDir = "";
  for (let i = 0; i < COLD; i++) {
    warmDir = join(dir, `cache-${language}-${i}`);
    cold.push(await attempt(k.deps, warmDir));
  }
  const cached: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < CACHED; i++) {
    cached.push(await attempt(k.deps, warmDir));
    plain.push(await attempt(k.plain, warmDir));
  }
  console.log(
    `${language}: first run (build) p50 ${median(cold).toFixed(0)} ms | cached run p50 ${median(cached).toFixed(1)} ms | no requirements p50 ${median(plain).toFixed(1)} ms | cached overhead ${(median(cached) - median(plain)).toFixed(1)} ms`,
  );
}
console.log(
  `# load average after: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
await index.close();
rmSync(dir, { recursive: true, force: true });
