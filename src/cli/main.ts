import { createRequire } from "node:module";
import { Command, CommanderError, Option } from "commander";
import { isKilnError, KilnError } from "../errors.ts";
import { installAdminCommands } from "./commands/admin.ts";
import { installAuditCommand } from "./commands/audit.ts";
import { installDbCommands } from "./commands/db.ts";
import { installDeployCommand } from "./commands/deploy.ts";
import { installDoctorCommand } from "./commands/doctor.ts";
import { installInitCommand } from "./commands/init.ts";
import { installNodeCommands } from "./commands/nodes.ts";
import { installDeleteCommands } from "./commands/registry.ts";
import { installReplayCommand } from "./commands/replay.ts";
import { installRunCommands } from "./commands/runs.ts";
import { installScheduleCommands } from "./commands/schedules.ts";
import { installServeCommands } from "./commands/serve.ts";
import { installUsersCommand } from "./commands/users.ts";
import { installValidateCommand } from "./commands/validate.ts";
import { installWebhookCommands } from "./commands/webhooks.ts";
import type { CommandInstaller, Runner } from "./command-registry.ts";
import { createContext } from "./context.ts";
import { type Output, processOutput } from "./output.ts";
import type { GlobalOptions } from "./target.ts";

/** The version `kiln --version` prints: package.json's (read at load: one source of truth for the CLI and the package). */
export const KILN_VERSION: string = createRequire(import.meta.url)("../../package.json").version;

/**
 * Every command of `kiln`, in the order `kiln --help` lists them. Each command module exports its
 * installer and this list is the only place that adds commands to the program.
 */
const COMMANDS: readonly CommandInstaller[] = [
  installRunCommands,
  installDeployCommand,
  installAdminCommands,
  installReplayCommand,
  installAuditCommand,
  installDbCommands,
  installInitCommand,
  installServeCommands,
  installValidateCommand,
  installWebhookCommands,
  installDeleteCommands,
  installScheduleCommands,
  installUsersCommand,
  installDoctorCommand,
  installNodeCommands,
];

/** Builds the `kiln` program. `exit` receives the exit code of the command that ran. */
export function buildProgram(output: Output, exit: { code: number }): Command {
  const program = new Command("kiln")
    .description("Kiln: a durable workflow engine for the scripts you already have (kiln -V: version)")
    // -V/--version is answered in runCli, only before a command: commander's .version() would also
    // take `--version V` of `deploy`/`start`, print the version and exit 0 with nothing done.
    .option("--json", "print machine-readable JSON (same as -o json)")
    .addOption(
      new Option("-o, --output <format>", "table (for people), json, or jsonl (one JSON line per item)").choices([
        "table",
        "json",
        "jsonl",
      ]),
    )
    .addOption(new Option("--server <url>", "Kiln server URL").env("KILN_SERVER"))
    .addOption(new Option("--token <token>", "API token").env("KILN_TOKEN"))
    .addOption(new Option("--namespace <ns>", "namespace").env("KILN_NAMESPACE"))
    .addOption(new Option("--config <file>", "config file or directory").env("KILN_CONFIG"))
    .option("--data <dir>", "data directory of kiln dev / kiln server (admin token lookup)")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s.trimEnd()), writeErr: (s) => output.err(s.trimEnd()) });

  const run: Runner =
    (action) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const ctx = createContext(command.optsWithGlobals() as GlobalOptions, output);
      exit.code = await action(ctx, ...(args.slice(0, -1) as never));
    };

  for (const install of COMMANDS) install(program, run);
  return program;
}

/** Runs the CLI with `argv` (without node and script) and exits with the command's code. */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<never> {
  const code = await runCli(argv, output);
  process.exit(code);
}

/** Runs the CLI and returns the exit code instead of exiting (tests). */
export async function runCli(argv: readonly string[], output: Output = processOutput): Promise<number> {
  const exit = { code: 0 };
  const program = buildProgram(output, exit);
  const first = argv.find((a) => !a.startsWith("-") || a === "-V" || a === "--version");
  if (first === "-V" || first === "--version") {
    output.out(KILN_VERSION);
    return 0;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    const format = argv.find((a, i) => ["-o", "--output"].includes(argv[i - 1] ?? "") || a.startsWith("--output="));
    const machine = argv.includes("--json") || /^(--output=)?jsonl?$/.test(format ?? "");
    const known = isKilnError(error) ? error : new KilnError("INTERNAL", (error as Error)?.message ?? String(error));
    if (machine) output.out(JSON.stringify({ error: { code: known.code, message: known.message } }, null, 2));
    else output.err(`error ${known.code}: ${known.message}`);
    return 1;
  }
}
