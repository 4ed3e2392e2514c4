#!/usr/bin/env node
// The `kiln` command. In-script commands (kiln step/sleep/state/…, with $KILN_API_SOCKET set) take
// a fast path in plain JavaScript; `--version` answers from package.json without loading the CLI;
// everything else runs the compiled CLI in dist/ (built by `npm run build`, run by `prepare`).
// KILN_FROM_SOURCE=1 (or a clone without dist/) loads the TypeScript sources through tsx instead:
// the tests set it so they always run the code as it is now, never a stale build.
import { existsSync, readFileSync } from "node:fs";

const argv = process.argv.slice(2);
const [command] = argv;
if (process.env.KILN_API_SOCKET && command) {
  const local = await import("./kiln-local.mjs");
  if (local.LOCAL_COMMANDS.has(command)) process.exit((await local.runLocal(argv)) ?? 0);
}
if (argv.length === 1 && (command === "--version" || command === "-V")) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version}\n`);
  process.exit(0);
}
const compiled = new URL("../dist/cli/main.js", import.meta.url);
if (process.env.KILN_FROM_SOURCE !== "1" && existsSync(compiled)) {
  const { main } = await import(compiled.href);
  await main(argv);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const { main } = await import("../src/cli/main.ts");
  await main(argv);
}
