import { readFileSync } from "node:fs";
import { extname, resolve } from "node:path";
import { parse } from "yaml";
import type { Command } from "commander";
import type { ConfigProblem } from "../../config/config-problems.ts";
import { loadConfig } from "../../config/load-config.ts";
import { isKilnError } from "../../errors.ts";
import { validateFlowFile } from "../../flow/flow-runtime.ts";
import { registerCommands } from "../command-registry.ts";
import type { CliContext } from "../context.ts";
import { printJson } from "../output.ts";

/** The problems of a config file (every one at once), or of the config beside the working directory. */
function configProblems(file: string | undefined): { file: string; problems: ConfigProblem[] } {
  try {
    const config = loadConfig(file ? { file } : {});
    return { file: config.files[0] ?? file ?? "kiln.yaml", problems: [] };
  } catch (error) {
    if (!isKilnError(error)) throw error;
    const data = error.data as { problems?: ConfigProblem[]; errors?: ConfigProblem[] } | undefined;
    const problems = data?.problems ?? data?.errors;
    return {
      file: file ?? "kiln.yaml",
      problems: problems?.length
        ? problems
        : [{ file: file ?? "kiln.yaml", line: 1, column: 1, path: "", message: `${error.code}: ${error.message}` }],
    };
  }
}

/** A YAML file with `nodes` or `steps` at the top is a flow; anything else is config. */
function looksLikeFlow(file: string): boolean {
  if (![".yaml", ".yml"].includes(extname(file).toLowerCase())) return false;
  try {
    const doc = parse(readFileSync(file, "utf8")) as Record<string, unknown> | null;
    if (!doc || typeof doc !== "object") return false;
    if ("tasks" in doc || "server" in doc || "worker" in doc || "plugins" in doc) return false;
    return "nodes" in doc || "steps" in doc || "metadata" in doc;
  } catch {
    return !/kiln\.ya?ml$/.test(file);
  }
}

/** `kiln validate [FILES]`: config files and YAML flows; every problem with file:line:column. */
export async function validateCommand(ctx: CliContext, files: readonly string[]): Promise<number> {
  const results: { file: string; problems: readonly ConfigProblem[] }[] = [];
  const targets = files.length > 0 ? files : [undefined];
  const plugins = (() => {
    try {
      return loadConfig({ optional: true }).plugins;
    } catch {
      return [];
    }
  })();
  for (const file of targets) {
    const isFlow = file !== undefined && looksLikeFlow(file);
    if (isFlow) results.push({ file, problems: await validateFlowFile(resolve(file), plugins, { file }) });
    else results.push(configProblems(file));
  }
  const problems = results.flatMap((r) => r.problems);
  if (ctx.options.json) printJson(ctx.output, { ok: problems.length === 0, files: results });
  else {
    for (const r of results) {
      if (r.problems.length === 0) ctx.output.out(`${r.file}: ok`);
      for (const p of r.problems)
        ctx.output.err(`${p.file}:${p.line}:${p.column}: ${p.path ? `${p.path}: ` : ""}${p.message}`);
    }
    if (problems.length > 0) ctx.output.err(`${problems.length} problem(s)`);
  }
  return problems.length === 0 ? 0 : 1;
}

registerCommands((program: Command, run) => {
  program
    .command("validate [files...]")
    .description("check config files (kiln.yaml, tasks/*.yaml) and YAML flows; every error with file:line:column")
    .action(run((ctx, files: string[]) => validateCommand(ctx, files ?? [])));
});
