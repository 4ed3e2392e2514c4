import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import { parse } from "yaml";
import type { Command } from "commander";
import type { ConfigProblem } from "../../config/config-problems.ts";
import { loadConfig } from "../../config/load-config.ts";
import { isKilnError } from "../../errors.ts";
import { validateFlowFile } from "../../flow/run/flow-runtime.ts";
import { validateDeployment } from "../../server/deploy-validation.ts";
import type { Runner } from "../command-registry.ts";
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

/** The workflow files under `dir` (flows and JS/TS workflows), sorted; none when it does not exist. */
function workflowFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => [".yaml", ".yml", ".js", ".mjs", ".ts", ".mts"].includes(extname(f).toLowerCase()))
    .sort()
    .map((f) => join(dir, f));
}

/** The problems of a JS/TS workflow file: it must compile (what `kiln dev` and deploys require). */
async function nodeWorkflowProblems(path: string, file: string): Promise<ConfigProblem[]> {
  try {
    const name = basename(path, extname(path));
    await validateDeployment({ name, runtime: "node", source: readFileSync(path, "utf8"), filename: file });
    return [];
  } catch (error) {
    return [{ file, line: 1, column: 1, path: "", message: (error as Error).message }];
  }
}

/**
 * `kiln validate [FILES]`: config files and YAML flows; every problem with file:line:column. With
 * no files: the config (`--config`, else the one beside the working directory) and every
 * workflow under its `workflows/` directory.
 */
export async function validateCommand(ctx: CliContext, files: readonly string[]): Promise<number> {
  const results: { file: string; problems: readonly ConfigProblem[] }[] = [];
  const configFile = ctx.options.config;
  const config = (() => {
    try {
      return loadConfig({ optional: true, ...(configFile ? { file: configFile } : {}) });
    } catch {
      return undefined;
    }
  })();
  const plugins = config?.plugins ?? [];
  const baseDir = config?.baseDir ?? (configFile ? dirname(resolve(configFile)) : process.cwd());
  const targets: (string | undefined)[] =
    files.length > 0 ? [...files] : [configFile, ...workflowFiles(join(baseDir, "workflows"))];
  for (const file of targets) {
    const rel = file === undefined ? undefined : relative(process.cwd(), file);
    // Paths under the working directory are shown relative to it; others as given.
    const shown = rel === undefined ? undefined : rel === "" || rel.startsWith("..") ? (file as string) : rel;
    if (file === undefined || shown === undefined) results.push(configProblems(configFile));
    else if (looksLikeFlow(file))
      results.push({ file: shown, problems: await validateFlowFile(resolve(file), plugins, { file: shown, baseDir }) });
    else if ([".js", ".mjs", ".ts", ".mts"].includes(extname(file).toLowerCase()))
      results.push({ file: shown, problems: await nodeWorkflowProblems(file, shown) });
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

/** Adds `kiln validate`: checks config files and YAML flows. */
export function installValidateCommand(program: Command, run: Runner): void {
  program
    .command("validate [files...]")
    .description(
      "check config files and YAML flows (default: the config and every workflow under workflows/); every error with file:line:column",
    )
    .action(run((ctx, files: string[]) => validateCommand(ctx, files ?? [])));
}
