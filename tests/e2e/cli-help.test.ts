import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { KILN_BIN } from "./cli-support.ts";

// Every top-level command, in the order `kiln --help` lists them (main.ts's command list). A
// command module that is not in that list would silently vanish from the CLI.
const COMMANDS = [
  "start",
  "run",
  "status",
  "logs",
  "cancel",
  "retry",
  "list",
  "deploy",
  "events",
  "secrets",
  "tokens",
  "openapi",
  "replay",
  "audit",
  "db",
  "init",
  "dev|serve",
  "server",
  "worker",
  "validate",
  "webhooks",
  "delete",
  "schedules",
  "users",
  "doctor",
  "nodes",
  "help",
];

test("kiln --help lists every command, in order", () => {
  const result = spawnSync(process.execPath, [KILN_BIN, "--help"], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  const listed = result.stdout
    .slice(result.stdout.indexOf("Commands:"))
    .split("\n")
    .slice(1)
    .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
  assert.deepEqual(listed, COMMANDS);
});

test("subcommands of the grouped commands are reachable", () => {
  const groups: Record<string, string[]> = {
    list: ["runs", "workflows", "tasks", "workers"],
    events: ["send", "list"],
    secrets: ["set", "list", "rm", "rotate-key"],
    tokens: ["create", "list", "revoke"],
    db: ["migrate", "backup", "restore"],
    nodes: ["list", "show"],
  };
  for (const [group, subs] of Object.entries(groups)) {
    const result = spawnSync(process.execPath, [KILN_BIN, group, "--help"], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    for (const sub of subs) assert.match(result.stdout, new RegExp(`^  ${sub}\\b`, "m"), `${group} ${sub}`);
  }
});
