import { type Command, Option } from "commander";
import type { Runner } from "../command-registry.ts";
import { readFileSync } from "node:fs";
import { KilnError } from "../../errors.ts";
import { parseJsonInput } from "../../engine/payload.ts";
import type { CliContext } from "../context.ts";
import { humanDuration, timeAgo } from "../human-time.ts";
import { printJson, table } from "../output.ts";

type Page<T> = { items: T[]; nextCursor?: string | null };
type Row = Record<string, unknown>;

const text = (v: unknown) =>
  v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
/** Instants in tables read relative to now ("3 min ago"); the JSON output keeps the epoch milliseconds. */
const when = (v: unknown) => (typeof v === "number" ? timeAgo(v) : text(v));

/** `kiln list workflows|tasks|workers`. */
export async function listResourceCommand(
  ctx: CliContext,
  what: "workflows" | "tasks" | "workers",
  options: Readonly<{ search?: string }> = {},
): Promise<number> {
  const page = await ctx.api().get<Page<Row>>(`/v1/${what}`, { q: options.search });
  if (ctx.options.json) {
    printJson(ctx.output, page);
    return 0;
  }
  if (what === "workflows") {
    const rows = page.items.map((w) => [
      text(w.name),
      text(w.version),
      text(w.runtime),
      text(w.versions),
      text(w.contentHash).slice(0, 12),
      when(w.createdAt),
      text(w.adapter ?? "any"),
      text(w.description),
    ]);
    ctx.output.out(
      table(rows, ["NAME", "VERSION", "RUNTIME", "VERSIONS", "HASH", "DEPLOYED", "ADAPTER", "DESCRIPTION"]),
    );
  } else if (what === "tasks") {
    const workerNames = (v: unknown) =>
      Array.isArray(v)
        ? v.map((w) => `${text((w as Row).name)}${(w as Row).alive === false ? " (gone)" : ""}`).join(", ")
        : text(v);
    const rows = page.items.map((t) => [
      text(t.kind),
      workerNames(t.workers),
      text(t.queue ?? ""),
      text(t.description ?? ""),
    ]);
    ctx.output.out(table(rows, ["KIND", "WORKERS", "QUEUE", "DESCRIPTION"]));
  } else {
    const rows = page.items.map((w) => [
      text(w.name),
      text(w.version),
      text(w.queues),
      typeof w.heartbeatAgeMs === "number" ? `${humanDuration(w.heartbeatAgeMs)} ago` : text(w.heartbeatAgeMs),
      text(w.alive === false ? "gone" : "alive"),
    ]);
    ctx.output.out(table(rows, ["NAME", "VERSION", "QUEUES", "LAST HEARTBEAT", "STATE"]));
  }
  return 0;
}

/** `kiln events send <name> [--key K] [-d JSON]`. */
export async function sendEventCommand(
  ctx: CliContext,
  name: string,
  options: { key?: string; data?: string },
): Promise<number> {
  const payload = options.data === undefined ? null : parseJsonInput(options.data, "event data given with -d");
  const result = await ctx.api().post<{ eventId: string; deliveredTo: string | null }>("/v1/events", {
    name,
    payload,
    ...(options.key ? { key: options.key } : {}),
  });
  if (ctx.options.json) printJson(ctx.output, result);
  else
    ctx.output.out(
      result.deliveredTo
        ? `event ${result.eventId} delivered to run ${result.deliveredTo}`
        : `event ${result.eventId} buffered`,
    );
  return 0;
}

/** `kiln events list [--name N] [--buffered]`: kept events, newest first. */
export async function listEventsCommand(
  ctx: CliContext,
  options: { name?: string; buffered?: boolean; limit?: string },
): Promise<number> {
  const page = await ctx.api().get<{
    items: { id: string; name: string; key: string | null; createdAt: number; deliveredTo: string | null }[];
    nextCursor: string | null;
  }>("/v1/events", {
    name: options.name,
    buffered: options.buffered ? "true" : undefined,
    limit: options.limit ?? 20,
  });
  if (ctx.options.json) {
    printJson(ctx.output, page);
    return 0;
  }
  const rows = page.items.map((e) => [
    e.id,
    e.name,
    e.key ?? "",
    new Date(e.createdAt).toISOString().replace("T", " ").slice(0, 19),
    e.deliveredTo ?? "buffered",
  ]);
  ctx.output.out(table(rows, ["ID", "NAME", "KEY", "SENT", "DELIVERED TO"]));
  return 0;
}

/** `kiln secrets set NAME [VALUE]` (value from stdin when omitted). */
export async function setSecretCommand(ctx: CliContext, name: string, value: string | undefined): Promise<number> {
  let secret = value;
  if (secret === undefined) {
    if (process.stdin.isTTY)
      throw new KilnError(
        "INVALID_INPUT",
        `Pass the value of ${name} on stdin (echo -n … | kiln secrets set ${name}) or as an argument`,
      );
    secret = readFileSync(0, "utf8").replace(/\r?\n$/, "");
  }
  if (secret.length === 0) throw new KilnError("INVALID_INPUT", `The value of secret ${name} is empty`);
  await ctx.api().put(`/v1/secrets/${encodeURIComponent(name)}`, { value: secret });
  if (ctx.options.json) printJson(ctx.output, { name, set: true });
  else ctx.output.out(`secret ${name} set`);
  return 0;
}

/** `kiln secrets list`. */
export async function listSecretsCommand(ctx: CliContext): Promise<number> {
  const page = await ctx.api().get<Page<Row>>("/v1/secrets");
  if (ctx.options.json) printJson(ctx.output, page);
  else
    ctx.output.out(
      table(
        page.items.map((s) => [text(s.name), text(s.keyId), when(s.updatedAt)]),
        ["NAME", "KEY", "UPDATED"],
      ),
    );
  return 0;
}

/** `kiln secrets rm NAME`. */
export async function removeSecretCommand(ctx: CliContext, name: string): Promise<number> {
  await ctx.api().delete(`/v1/secrets/${encodeURIComponent(name)}`);
  if (ctx.options.json) printJson(ctx.output, { name, removed: true });
  else ctx.output.out(`secret ${name} removed`);
  return 0;
}

/** `kiln secrets rotate-key`. */
export async function rotateKeyCommand(ctx: CliContext): Promise<number> {
  const result = await ctx.api().post<Row>("/v1/secrets/rotate-key", {});
  if (ctx.options.json) printJson(ctx.output, result);
  else ctx.output.out(`secrets re-encrypted with key ${text(result.keyId)} (${text(result.reencrypted)} secret(s))`);
  return 0;
}

/** `kiln tokens create --name N --role R`. */
export async function createTokenCommand(ctx: CliContext, options: { name: string; role: string }): Promise<number> {
  const { namespace } = await ctx.api().resolveNamespace();
  const result = await ctx.api().post<Row>("/v1/tokens", { name: options.name, role: options.role, namespace });
  if (ctx.options.json) printJson(ctx.output, result);
  else {
    ctx.output.out(text(result.token));
    ctx.output.err(`token ${text(result.id)} (${options.role}) created; it is shown only once`);
  }
  return 0;
}

/** `kiln tokens list`. */
export async function listTokensCommand(ctx: CliContext): Promise<number> {
  const page = await ctx.api().get<Page<Row>>("/v1/tokens");
  if (ctx.options.json) printJson(ctx.output, page);
  else {
    const rows = page.items.map((t) => [
      text(t.id),
      text(t.name),
      text(t.role),
      text(t.namespace),
      when(t.createdAt),
      t.revokedAt ? "revoked" : "active",
    ]);
    ctx.output.out(table(rows, ["ID", "NAME", "ROLE", "NAMESPACE", "CREATED", "STATE"]));
  }
  return 0;
}

/** `kiln tokens revoke ID`. */
export async function revokeTokenCommand(ctx: CliContext, id: string): Promise<number> {
  await ctx.api().delete(`/v1/tokens/${encodeURIComponent(id)}`);
  if (ctx.options.json) printJson(ctx.output, { id, revoked: true });
  else ctx.output.out(`token ${id} revoked`);
  return 0;
}

/** `kiln openapi`: prints the server's OpenAPI document. */
export async function openapiCommand(ctx: CliContext): Promise<number> {
  printJson(ctx.output, await ctx.api().get("/v1/openapi.json"));
  return 0;
}

/** Adds the namespace administration commands: events, secrets, tokens, openapi. */
export function installAdminCommands(program: Command, run: Runner): void {
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
}
