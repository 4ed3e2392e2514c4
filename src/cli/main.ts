import { createRequire } from "node:module";
import { Command, CommanderError, Option } from "commander";
import { isKilnError, KilnError } from "../errors.ts";
import {
  createTokenCommand,
  listResourceCommand,
  listSecretsCommand,
  listTokensCommand,
  openapiCommand,
  removeSecretCommand,
  revokeTokenCommand,
  rotateKeyCommand,
  sendEventCommand,
  listEventsCommand,
  setSecretCommand,
} from "./commands/admin.ts";
import { deployCommand } from "./commands/deploy.ts";
import {
  cancelCommand,
  listRunsCommand,
  logsCommand,
  retryCommand,
  startCommand,
  statusCommand,
} from "./commands/runs.ts";
import { commandInstallers, type Runner } from "./command-registry.ts";
import { createContext } from "./context.ts";
import { type Output, processOutput } from "./output.ts";
import type { GlobalOptions } from "./target.ts";

/** The version `kiln --version` prints: package.json's (read at load: one source of truth for the CLI and the package). */
export const KILN_VERSION: string = createRequire(import.meta.url)("../../package.json").version;

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

  const start = (type: "workflow" | "task", cmd: Command) =>
    cmd
      .option("-i, --input <json>", "input as JSON")
      .option("--input-file <file>", "input from a JSON file (- for stdin)")
      .option("--wait", "wait for the run to finish and print it")
      .option("--follow", "wait and stream the run's logs")
      .option("--idempotency-key <key>", "same key, same run")
      .option("--queue <queue>", "queue")
      .option("--priority <n>", "priority (higher first)")
      .option("--version <version>", "workflow version to pin")
      .option("--timeout <duration>", "run timeout: 90s, 10m, 1h (a bare number is seconds)")
      .option("--callback-url <url>", "POST the run's outcome here (signed with secret WEBHOOK_CALLBACK_SECRET)")
      .option("--delay <duration>", 'start no earlier than this long from now ("10m")')
      .option("--at <time>", 'start no earlier than this time ("2026-12-24T09:00Z")')
      .option(
        "--allow-unknown",
        `queue the run even if no worker or deployment knows the ${type === "task" ? "task kind" : "workflow"} yet`,
      )
      .action(run((ctx, name: string, opts) => startCommand(ctx, type, name, opts as never)));
  start("workflow", program.command("start <workflow>").description("start a workflow run; prints the run id"));
  start("task", program.command("run <task-kind>").description("run a task kind; prints the run id"));

  program
    .command("status <run-id>")
    .description("show a run")
    .action(run((ctx, id: string) => statusCommand(ctx, id)));
  program
    .command("logs <run-id>")
    .description("print a run's logs")
    .option("-f, --follow", "keep following until the run ends")
    .action(run((ctx, id: string, opts) => logsCommand(ctx, id, opts as never)));
  program
    .command("cancel <run-id>")
    .description("cancel a run")
    .action(run((ctx, id: string) => cancelCommand(ctx, id)));
  program
    .command("retry <run-id>")
    .description("retry a finished run as a new attempt")
    .option("--from-step <name>", "forget this step and every later one")
    .option("--wait", "wait for the run to finish")
    .action(run((ctx, id: string, opts) => retryCommand(ctx, id, opts as never)));

  const list = program.command("list").description("list workflows, runs, tasks or workers");
  list
    .command("runs")
    .option("-w, --workflow <name>", "only runs of this workflow")
    .option("--task <kind>", "only runs of this task kind")
    .option("-s, --status <status>", "only runs in these statuses (comma-separated)")
    .option("-n, --limit <n>", "how many", "20")
    .action(run((ctx, opts) => listRunsCommand(ctx, opts as never)));
  for (const what of ["workflows", "tasks", "workers"] as const) {
    const cmd = list.command(what);
    if (what === "workflows") cmd.option("--search <text>", "only workflows whose name or description contains it");
    cmd.action(run((ctx, opts) => listResourceCommand(ctx, what, opts as never)));
  }

  program
    .command("deploy <id>")
    .description("deploy workflow code (JS, TS, Python or a YAML flow); `kiln deploy wf.js` deploys a file as `wf`")
    .option("-f, --file <file>", "source file (- for stdin; default: <id> itself when it is a file)")
    .option("--runtime <runtime>", "node | python | flow (default: from the extension)")
    .option("--version <version>", "version (default: next number)")
    .option("--name <name>", "workflow name (default: <id>)")
    .option("--description <text>", "description")
    .option(
      "-a, --adapter <name>",
      "only workers with this compute adapter run it: exec, docker or cloudflare (default: the config's workflows.<name>.adapter, else any)",
    )
    .option("--check", "refuse the deploy if in-flight runs' histories diverge from the new code")
    .action(run((ctx, id: string, opts) => deployCommand(ctx, id, opts as never)));

  const events = program.command("events").description("send events");
  events
    .command("send <name>")
    .option("--key <key>", "correlation key")
    .option("-d, --data <json>", "payload as JSON")
    .action(run((ctx, name: string, opts) => sendEventCommand(ctx, name, opts as never)));
  events
    .command("list")
    .description("events kept in the namespace, newest first (delivered or buffered)")
    .option("--name <name>", "only events of this name")
    .option("--buffered", "only events no run has received yet")
    .option("--limit <n>", "at most this many", "20")
    .action(run((ctx, opts) => listEventsCommand(ctx, opts as never)));

  const secrets = program.command("secrets").description("manage encrypted secrets");
  secrets
    .command("set <name> [value]")
    .description("set a secret (value from stdin when omitted)")
    .action(run((ctx, name: string, value: string | undefined) => setSecretCommand(ctx, name, value)));
  secrets.command("list").action(run((ctx) => listSecretsCommand(ctx)));
  secrets.command("rm <name>").action(run((ctx, name: string) => removeSecretCommand(ctx, name)));
  secrets.command("rotate-key").action(run((ctx) => rotateKeyCommand(ctx)));

  const tokens = program.command("tokens").description("manage API tokens");
  tokens
    .command("create")
    .requiredOption("--name <name>", "a name for the token")
    .addOption(
      new Option("--role <role>", "role").choices(["admin", "developer", "viewer", "worker"]).default("developer"),
    )
    .action(run((ctx, opts) => createTokenCommand(ctx, opts as never)));
  tokens.command("list").action(run((ctx) => listTokensCommand(ctx)));
  tokens.command("revoke <id>").action(run((ctx, id: string) => revokeTokenCommand(ctx, id)));

  program
    .command("openapi")
    .description("print the OpenAPI document")
    .action(run((ctx) => openapiCommand(ctx)));

  for (const install of commandInstallers()) install(program, run);
  return program;
}

/** Runs the CLI with `argv` (without node and script) and exits with the command's code. */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<never> {
  const code = await runCli(argv, output);
  process.exit(code);
}

/** Runs the CLI and returns the exit code instead of exiting (tests). */
export async function runCli(argv: readonly string[], output: Output = processOutput): Promise<number> {
  await import("./commands/index.ts");
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
