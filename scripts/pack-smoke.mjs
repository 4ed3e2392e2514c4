#!/usr/bin/env node
// Proves the published shape works outside the clone: `npm pack` → install the tarball in an empty
// directory → `npx kiln init`, `npx kiln dev` (health check), a workflow started and awaited through
// the CLI, and an embedding script in plain Node (no tsx) importing the package by name. Cleans up
// its temp directory and its `kiln dev` whatever happens. Exits non-zero with the failing step.
// Usage: node scripts/pack-smoke.mjs [--build-native]   (see the install step for the flag)
import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const buildNative = process.argv.includes("--build-native");
const name = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).name;
const work = mkdtempSync(join(tmpdir(), "kiln-pack-smoke-"));
const app = join(work, "app");
let dev;

/** Runs a command, echoing it, and returns its stdout; throws with its output on failure. */
function sh(cmd, args, cwd, timeout = 300_000) {
  console.log(`$ ${cmd} ${args.join(" ")}`);
  try {
    return execFileSync(cmd, args, { cwd, encoding: "utf8", timeout, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${error.stdout ?? ""}${error.stderr ?? error.message}`);
  }
}

/**
 * The installed package under Node 22 (the npm package `node@22` brings its binary from the
 * registry): the CLI's version and a workflow started and awaited through the running `kiln dev`,
 * and the typed client (`<name>/client`) awaiting a run's result. SQLite stays on Node 20: the
 * copied better-sqlite3 addon is built for Node 20's ABI, and building it for 22 takes minutes.
 * Skipped, saying why, when the Node 22 binary cannot be fetched.
 */
function smokeOtherNode(app, url) {
  let node22;
  try {
    const version = sh("npx", ["-y", "node@22", "--version"], app, 300_000).trim();
    node22 = (args, cwd) => sh("npx", ["-y", "node@22", ...args], cwd);
    console.log(`# Node ${version} from the npm package node@22`);
  } catch (error) {
    console.log(`# Node 22: skipped, npx -y node@22 failed: ${error.message.split("\n").slice(0, 3).join(" ")}`);
    return;
  }
  const bin = join(app, "node_modules", name, "bin", "kiln.mjs");
  const version = node22([bin, "--version"], app).trim();
  if (version !== JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version) {
    throw new Error(`kiln --version under Node 22 printed ${version}`);
  }
  const started = node22([bin, "start", "hello", "-i", '{"name":"Node 22"}', "--wait"], app);
  if (!started.includes("Hello, Node 22!")) throw new Error(`the CLI under Node 22 printed:\n${started}`);
  writeFileSync(
    join(app, "client.mjs"),
    `import { createKilnClient } from "${name}/client";
const client = createKilnClient({ server: ${JSON.stringify(url)} });
const handle = await client.startRun({ type: "workflow", name: "hello", input: { name: "Client" } });
const run = await handle.result();
console.log(process.version, run.status, JSON.stringify(run.output));
`,
  );
  const printed = node22(["client.mjs"], app);
  if (!printed.includes("completed") || !printed.includes("Hello, Client!")) {
    throw new Error(`the typed client under Node 22 printed:\n${printed}`);
  }
  console.log(`# Node 22: kiln --version, kiln start --wait and ${name}/client: ${printed.trim()}`);
}

try {
  const [packed] = JSON.parse(sh("npm", ["pack", "--json", "--pack-destination", work], root));
  const tarball = join(work, packed.filename);
  const shipped = packed.files.map((f) => f.path);
  console.log(`# ${packed.filename}: ${shipped.length} files, ${(packed.size / 1024).toFixed(0)} KiB`);
  for (const required of [
    "dist/index.js",
    "dist/index.d.ts",
    "dist/client.js",
    "dist/client.d.ts",
    "dist/cli/main.js",
    "bin/kiln.mjs",
    "LICENSE",
  ]) {
    if (!shipped.includes(required)) throw new Error(`the tarball lacks ${required}`);
  }
  const stray = shipped.filter((f) => f.endsWith(".test.js") || f.startsWith("src/") || f.startsWith("tests/"));
  if (stray.length > 0) throw new Error(`the tarball holds files that do not run: ${stray.join(", ")}`);

  sh("mkdir", ["-p", app], work);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "smoke-app", private: true, type: "module" }));
  if (buildNative) sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], app, 1_800_000);
  else {
    // better-sqlite3 compiles from source when its prebuilt binary cannot be downloaded (no
    // network to GitHub: >10 min on a busy machine). Install without scripts and reuse the
    // clone's compiled addon (same locked version, same Node) unless --build-native is given.
    sh("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", tarball], app, 600_000);
    const addon = "node_modules/better-sqlite3/build/Release/better_sqlite3.node";
    const version = (dir) =>
      JSON.parse(readFileSync(join(dir, "node_modules/better-sqlite3/package.json"), "utf8")).version;
    if (version(root) !== version(app)) throw new Error("better-sqlite3 differs from the clone's: pass --build-native");
    mkdirSync(join(app, addon, ".."), { recursive: true });
    cpSync(join(root, addon), join(app, addon));
  }
  console.log(sh("npx", ["--no-install", "kiln", "init"], app));

  dev = spawn("npx", ["--no-install", "kiln", "dev", "--port", "0"], {
    cwd: app,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let devOutput = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kiln dev did not get ready:\n${devOutput}`)), 60_000);
    const onData = (chunk) => {
      devOutput += chunk;
      const ready = /Kiln ready at (\S+)/.exec(devOutput);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]);
      }
    };
    dev.stdout.on("data", onData);
    dev.stderr.on("data", onData);
    dev.once("exit", (code) => reject(new Error(`kiln dev exited (${code}):\n${devOutput}`)));
  });
  const health = await fetch(new URL("/healthz", url));
  if (!health.ok) throw new Error(`GET /healthz answered ${health.status}`);
  console.log(`# kiln dev ready at ${url}, /healthz ${health.status}`);

  // No --server: the CLI finds the port kiln dev picked through .kiln/dev.json.
  const result = sh("npx", ["--no-install", "kiln", "start", "hello", "-i", '{"name":"Ada"}', "--wait"], app);
  if (!result.includes("Hello, Ada!")) throw new Error(`the workflow did not greet Ada:\n${result}`);
  console.log(result.trim());

  writeFileSync(
    join(app, "embed.mjs"),
    `import { Kiln } from "${name}";
import { defineWorkflow } from "${name}/workflow";
import { createTestEnv } from "${name}/testing";
const kiln = await Kiln.open({ db: ":memory:" });
kiln.workflow("hello", async (input, { step }) => step("greet", () => \`Hello, \${input.name}!\`));
await kiln.start();
const run = await kiln.startWorkflow("hello", { name: "Embedded" });
const done = await kiln.waitForRun(run.id);
await kiln.close();
if (typeof defineWorkflow !== "function" || typeof createTestEnv !== "function") throw new Error("missing exports");
console.log(JSON.stringify(done.output));
`,
  );
  const embedded = sh(process.execPath, ["embed.mjs"], app);
  if (!embedded.includes("Hello, Embedded!")) throw new Error(`the embedding script printed:\n${embedded}`);
  console.log(`# embedded in plain Node ${process.version}: ${embedded.trim()}`);
  smokeOtherNode(app, url);
  console.log("pack smoke: ok");
} catch (error) {
  console.error(`pack smoke: FAILED\n${error.message}`);
  process.exitCode = 1;
} finally {
  if (dev && dev.exitCode === null) {
    const exited = new Promise((r) => dev.once("exit", r));
    process.kill(-dev.pid, "SIGTERM");
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
}
