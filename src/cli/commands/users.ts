import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import type { Command } from "commander";
import { KilnError } from "../../errors.ts";
import type { Account } from "../../store/account-store.ts";
import type { Runner } from "../command-registry.ts";
import type { CliContext } from "../context.ts";
import { printJson, table } from "../output.ts";

/** Options of the commands that take a password. */
interface PasswordOptions {
  /** Read the password from stdin (scripts); otherwise it is asked for on the terminal. */
  readonly passwordStdin?: boolean;
}

/**
 * The password for `users add|passwd`: from stdin with --password-stdin, else asked twice on the
 * terminal without echo. Never an argument: it would land in shell history and `ps`.
 */
async function readPassword(options: PasswordOptions, name: string): Promise<string> {
  if (options.passwordStdin) return readFileSync(0, "utf8").replace(/\r?\n$/, "");
  if (!process.stdin.isTTY) {
    throw new KilnError(
      "INVALID_INPUT",
      `No terminal to ask for the password of ${name}: pipe it in with --password-stdin (e.g. kiln users add ${name} --role viewer --password-stdin < file)`,
    );
  }
  const first = await askHidden(`Password for ${name}: `);
  const again = await askHidden("Repeat it: ");
  if (first !== again) throw new KilnError("INVALID_INPUT", "The two passwords differ; run the command again");
  return first;
}

/** Asks a question on the terminal; what is typed is not echoed. */
function askHidden(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer);
    });
    muted = true;
  });
}

/** `kiln users add NAME --role R` (in the global --namespace, default `default`). */
async function addUserCommand(
  ctx: CliContext,
  name: string,
  options: PasswordOptions & { role: string },
): Promise<number> {
  const password = await readPassword(options, name);
  // The global --namespace (or KILN_NAMESPACE) names the namespace the account acts in; "*": all.
  const namespace = ctx.options.namespace ?? "default";
  const account = await ctx.api().post<Account>("/v1/accounts", { name, role: options.role, namespace, password });
  if (ctx.options.json) printJson(ctx.output, account);
  else ctx.output.out(`account ${account.name} (${account.role} in ${account.namespace}) created`);
  return 0;
}

/** `kiln users list`. */
async function listUsersCommand(ctx: CliContext): Promise<number> {
  const page = await ctx.api().get<{ items: Account[] }>("/v1/accounts");
  if (ctx.options.json) {
    printJson(ctx.output, page);
    return 0;
  }
  const time = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString().replace("T", " ").slice(0, 19));
  const rows = page.items.map((a) => [a.name, a.role, a.namespace, time(a.createdAt), time(a.lastLoginAt)]);
  ctx.output.out(table(rows, ["NAME", "ROLE", "NAMESPACE", "CREATED", "LAST SIGN-IN"]));
  return 0;
}

/** `kiln users passwd NAME`. */
async function passwdCommand(ctx: CliContext, name: string, options: PasswordOptions): Promise<number> {
  const password = await readPassword(options, name);
  await ctx.api().put(`/v1/accounts/${encodeURIComponent(name)}/password`, { password });
  if (ctx.options.json) printJson(ctx.output, { name, passwordChanged: true });
  else ctx.output.out(`password of ${name} changed; its UI sessions ended`);
  return 0;
}

/** `kiln users rm NAME`. */
async function removeUserCommand(ctx: CliContext, name: string): Promise<number> {
  await ctx.api().delete(`/v1/accounts/${encodeURIComponent(name)}`);
  if (ctx.options.json) printJson(ctx.output, { name, removed: true });
  else ctx.output.out(`account ${name} removed`);
  return 0;
}

/** Adds `kiln users add|list|rm|passwd` to the program (a `*` admin token). */
export function installUsersCommand(program: Command, run: Runner): void {
  const users = program
    .command("users")
    .description("manage accounts: people who sign in with a name and password (HTTP Basic, web UI)");
  users
    .command("add <name>")
    .description(
      'create an account acting in --namespace (default: default; "*": every namespace); the password is asked for, or read with --password-stdin',
    )
    .requiredOption("--role <role>", "admin, developer or viewer")
    .option("--password-stdin", "read the password from stdin")
    .action(run((ctx, name, opts) => addUserCommand(ctx, name as string, opts as { role: string })));
  users
    .command("list")
    .description("list the accounts")
    .action(run((ctx) => listUsersCommand(ctx)));
  users
    .command("passwd <name>")
    .description("change an account's password (its UI sessions end)")
    .option("--password-stdin", "read the password from stdin")
    .action(run((ctx, name, opts) => passwdCommand(ctx, name as string, opts as PasswordOptions)));
  users
    .command("rm <name>")
    .description("delete an account")
    .action(run((ctx, name) => removeUserCommand(ctx, name as string)));
}
