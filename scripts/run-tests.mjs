#!/usr/bin/env node
// Runs every *.test.ts under src/ and tests/ with node:test, against a real PostgreSQL.
// When KILN_TEST_DATABASE_URL is not set, starts a throwaway cluster (trust auth, free port, temp
// dir) from the server binaries under /usr/lib/postgresql/*/bin and stops it afterwards.
// Prints node:test's summary and a closing "N passed, N failed, N skipped" line for CI.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { startThrowawayPostgres } from "../tests/support/postgres-cluster.mjs";

// `--full` (npm run test:reliability -- --full) runs the reliability suite at its full sizes.
const full = process.argv.includes("--full");
const args = process.argv.slice(2).filter((a) => a !== "--full");
const root = new URL("..", import.meta.url).pathname;

function findTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (entry.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

// Arguments are test files or folders of them (`node scripts/run-tests.mjs tests/reliability`).
const files =
  args.length > 0
    ? args.flatMap((a) => (statSync(a).isDirectory() ? findTests(a).sort() : [a]))
    : [...findTests(join(root, "src")), ...findTests(join(root, "tests"))].sort();
let cluster;
// `kiln` processes the tests spawn (bin/kiln.mjs) run the TypeScript sources, never a stale dist/.
const env = { ...process.env, KILN_FROM_SOURCE: "1", ...(full ? { KILN_RELIABILITY_FULL: "1" } : {}) };
if (!env.KILN_TEST_DATABASE_URL) {
  try {
    cluster = await startThrowawayPostgres();
    env.KILN_TEST_DATABASE_URL = cluster.url;
    console.log(`# PostgreSQL: throwaway cluster at ${cluster.url} (${cluster.dir})`);
  } catch (error) {
    const message = `PostgreSQL is not available for tests: ${error.message}`;
    if (process.env.CI === "true") {
      console.error(`# ERROR: ${message}. Under CI=true PostgreSQL tests may not be skipped.`);
      console.log("0 passed, 1 failed, 0 skipped");
      process.exit(1);
    }
    console.error(`\n#### WARNING: ${message}. PostgreSQL tests will be SKIPPED. ####\n`);
  }
}

const concurrency = process.env.KILN_TEST_CONCURRENCY ?? "2";
const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...files],
  { cwd: root, env, stdio: ["ignore", "pipe", "inherit"] },
);
// node:test's summary lines ("ℹ pass N" …) are read as they stream by: the failing tests' details
// printed after them can be far longer than any fixed tail kept of the output.
const summary = new Map();
let partial = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  const lines = (partial + chunk.toString()).split("\n");
  partial = lines.pop() ?? "";
  for (const line of lines) {
    const match = /^ℹ (pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
    if (match) summary.set(match[1], Number(match[2]));
  }
});
const code = await new Promise((resolve) => child.on("close", (c) => resolve(c ?? 1)));
if (cluster) await cluster.stop();

const count = (name) => summary.get(name) ?? 0;
const passed = count("pass");
const failed = count("fail") + count("cancelled");
const skipped = count("skipped") + count("todo");
if (passed + failed === 0 && code !== 0) console.log(`0 passed, 1 failed, ${skipped} skipped`);
else console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(code);
