import type { Command } from "commander";
import { loadConfig } from "../../config/load-config.ts";
import {
  type CatalogueEntry,
  type CatalogueParam,
  catalogueEntry,
  kindText,
  nodeCatalogue,
} from "../../flow/nodes/node-catalogue.ts";
import { nodeTypeRegistry } from "../../flow/nodes/node-type.ts";
import { loadPlugins } from "../../flow/nodes/plugins.ts";
import type { Runner } from "../command-registry.ts";
import type { CliContext } from "../context.ts";
import { printJson, table } from "../output.ts";

/** The catalogue of the built-in node types plus the plugins of the config (`--config`, else the one here, if any). */
async function catalogue(ctx: CliContext): Promise<CatalogueEntry[]> {
  const file = ctx.options.config;
  const config = loadConfig({ optional: true, ...(file ? { file } : {}) });
  const plugins = await loadPlugins(config.plugins, { baseDir: config.baseDir });
  return nodeCatalogue(nodeTypeRegistry(plugins));
}

const paramRows = (params: readonly CatalogueParam[], prefix = ""): string[][] =>
  params.flatMap((p) => [
    [`${prefix}${p.name}`, kindText(p), p.required ? "yes" : "", p.description],
    ...(p.fields === null ? [] : paramRows(p.fields, `${prefix}${p.name}.`)),
  ]);

/** `kiln nodes list`: every node type with its kind and params (required ones marked `*`). */
export async function nodesListCommand(ctx: CliContext): Promise<number> {
  const entries = await catalogue(ctx);
  if (ctx.options.json) {
    printJson(ctx.output, entries);
    return 0;
  }
  const rows = entries.map((e) => [
    e.type,
    e.kind,
    e.params === null ? "(not declared)" : e.params.map((p) => `${p.name}${p.required ? "*" : ""}`).join(", "),
  ]);
  ctx.output.out(table(rows, ["TYPE", "KIND", "PARAMS (* required)"]));
  return 0;
}

/** `kiln nodes show TYPE`: one node type's description and params schema. */
export async function nodesShowCommand(ctx: CliContext, type: string): Promise<number> {
  const entry = catalogueEntry(await catalogue(ctx), type);
  if (ctx.options.json) {
    printJson(ctx.output, entry);
    return 0;
  }
  ctx.output.out(
    `${entry.type}${entry.aliases.length > 0 ? ` (alias ${entry.aliases.join(", ")})` : ""} — ${entry.kind} node`,
  );
  ctx.output.out(entry.description);
  ctx.output.out("");
  if (entry.params === null) ctx.output.out("params: not declared (checked by the node type itself)");
  else ctx.output.out(table(paramRows(entry.params), ["PARAM", "KIND", "REQUIRED", "DESCRIPTION"]));
  return 0;
}

/** Adds `kiln nodes list|show`: the node types flows can use. */
export function installNodeCommands(program: Command, run: Runner): void {
  const nodes = program.command("nodes").description("the node types flows can use, with their params");
  nodes
    .command("list")
    .description("every node type (built-ins and the config's plugins) with its params")
    .action(run((ctx) => nodesListCommand(ctx)));
  nodes
    .command("show <type>")
    .description("one node type's params schema")
    .action(run((ctx, type: string) => nodesShowCommand(ctx, type)));
}
