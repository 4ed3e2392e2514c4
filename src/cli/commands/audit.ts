import type { Command } from "commander";
import { parseDuration } from "../../engine/duration.ts";
import type { AuditRecord } from "../../store/audit-store.ts";
import type { CliContext } from "../context.ts";
import type { Runner } from "../command-registry.ts";
import { timeAgo } from "../human-time.ts";
import { printJson, table } from "../output.ts";

/** Options of `kiln audit`. */
export interface AuditOptions {
  readonly actor?: string;
  readonly action?: string;
  /** A duration back from now (`1h`, `7d`). */
  readonly since?: string;
  readonly limit?: string;
  readonly all?: boolean;
}

/** `kiln audit`: who changed what, newest first (admin tokens). */
export async function auditCommand(ctx: CliContext, options: AuditOptions): Promise<number> {
  const page = await ctx.api().get<{ items: AuditRecord[]; nextCursor: string | null }>("/v1/audit", {
    actor: options.actor,
    action: options.action,
    since: options.since === undefined ? undefined : Date.now() - parseDuration(options.since),
    limit: options.limit,
    all: options.all ? "true" : undefined,
  });
  if (ctx.options.json) {
    printJson(ctx.output, page);
    return 0;
  }
  const rows = page.items.map((r) => [
    timeAgo(r.at),
    r.namespace,
    r.actorName || r.actor,
    r.action,
    Object.values(r.target).join(" "),
    r.outcome,
  ]);
  ctx.output.out(table(rows, ["TIME", "NAMESPACE", "ACTOR", "ACTION", "TARGET", "OUTCOME"]));
  return 0;
}

/** Adds `kiln audit` to the program. */
export function installAuditCommand(program: Command, run: Runner): void {
  program
    .command("audit")
    .description("list who changed what (deploys, starts, cancels, secrets, tokens, …), newest first")
    .option("--actor <id-or-name>", "only this token")
    .option("--action <operation>", "only this action (e.g. setSecret, startRun)")
    .option("--since <duration>", "only the last DURATION (e.g. 1h, 7d)")
    .option("--limit <n>", "at most N records (default 100)")
    .option("--all", "every namespace (a * admin token)")
    .action(run((ctx, opts) => auditCommand(ctx, opts as AuditOptions)));
}
