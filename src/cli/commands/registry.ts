import type { Command } from "commander";
import type { Runner } from "../command-registry.ts";
import type { CliContext } from "../context.ts";
import { printJson } from "../output.ts";

/** Options of `kiln delete workflow`. */
export interface DeleteWorkflowOptions {
  readonly version?: string;
  readonly force?: boolean;
}

interface Deleted {
  readonly name: string;
  readonly versions: string[];
  readonly cancelledRunIds: string[];
}

/**
 * `kiln delete workflow NAME [--version V] [--force]`: removes a workflow or one version. The
 * server refuses (WORKFLOW_IN_USE) while runs of it are in flight; `--force` cancels them first.
 */
export async function deleteWorkflowCommand(
  ctx: CliContext,
  name: string,
  options: Readonly<DeleteWorkflowOptions>,
): Promise<number> {
  const base = `/v1/workflows/${encodeURIComponent(name)}`;
  const path = options.version === undefined ? base : `${base}/versions/${encodeURIComponent(options.version)}`;
  const result = await ctx.api().delete<Deleted>(options.force ? `${path}?force=true` : path);
  if (ctx.options.json) {
    printJson(ctx.output, result);
    return 0;
  }
  const what = options.version === undefined ? result.name : `${result.name} version ${options.version}`;
  ctx.output.out(`deleted ${what} (${result.versions.length} version(s): ${result.versions.join(", ")})`);
  if (result.cancelledRunIds.length > 0) {
    ctx.output.out(`cancelled ${result.cancelledRunIds.length} in-flight run(s): ${result.cancelledRunIds.join(", ")}`);
  }
  return 0;
}

/** Adds `kiln delete workflow`: removes registry entries. */
export function installDeleteCommands(program: Command, run: Runner): void {
  const del = program.command("delete").description("delete registry entries (workflows)");
  del
    .command("workflow <name>")
    .description("delete a deployed workflow, or one version of it")
    .option("--version <version>", "only this version")
    .option("--force", "delete even while runs of it are in flight: they are cancelled")
    .action(run((ctx, name: string, opts) => deleteWorkflowCommand(ctx, name, opts as never)));
}
