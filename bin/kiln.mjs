#!/usr/bin/env node
// The `kiln` command. In-script commands (kiln step/sleep/state/…, with $KILN_API_SOCKET set) take
// a fast path in plain JavaScript; everything else loads the TypeScript CLI through tsx.
const [command] = process.argv.slice(2);
if (process.env.KILN_API_SOCKET && command) {
  const local = await import("./kiln-local.mjs");
  if (local.LOCAL_COMMANDS.has(command)) process.exit((await local.runLocal(process.argv.slice(2))) ?? 0);
}
const { register } = await import("tsx/esm/api");
register();
const { main } = await import("../src/cli/main.ts");
await main(process.argv.slice(2));
