import type { Command } from "commander";
import type { Runner } from "../command-registry.ts";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, extname, resolve } from "node:path";
import { loadConfig } from "../../config/load-config.ts";
import { hasCode, KilnError } from "../../errors.ts";
import { validateFlowFile } from "../../flow/run/flow-runtime.ts";
import { validateDeployment } from "../../server/deploy-validation.ts";
import { COMPUTE_ADAPTERS } from "../../store/control-store.ts";
import { detectRuntime } from "../detect-runtime.ts";
import type { CliContext } from "../context.ts";
import { assertDeployCompatible } from "./replay.ts";
import { printJson } from "../output.ts";

/** Options of `kiln deploy`. */
export interface DeployOptions {
  readonly file: string;
  readonly runtime?: string;
  readonly version?: string;
  readonly name?: string;
  readonly description?: string;
  readonly adapter?: string;
  readonly check?: boolean;
}

const RUNTIME_BY_EXTENSION: Readonly<Record<string, string>> = {
  ".js": "node",
  ".mjs": "node",
  ".cjs": "node",
  ".ts": "node",
  ".mts": "node",
  ".py": "python",
  ".yaml": "flow",
  ".yml": "flow",
};

/**
 * The runtime of a workflow source: `--runtime`, else the file extension, else (stdin, or a file
 * without a known extension) what the source looks like, else node.
 */
export function runtimeFor(file: string, runtime: string | undefined, source = ""): "node" | "python" | "flow" {
  const chosen = runtime ?? RUNTIME_BY_EXTENSION[extname(file).toLowerCase()] ?? detectRuntime(source) ?? "node";
  if (chosen !== "node" && chosen !== "python" && chosen !== "flow") {
    throw new KilnError("INVALID_INPUT", `Expected --runtime to be node, python or flow, got "${chosen}"`);
  }
  return chosen;
}

/**
 * Refuses before upload what `kiln validate` refuses: flows are checked with the config's plugins
 * (the server knows only built-in node types, so it lets unknown ones through), and JS/TS is
 * compiled under its own file name so a syntax error points at that file.
 */
async function checkLocally(
  ctx: CliContext,
  p: Readonly<{ name: string; runtime: "node" | "python" | "flow"; source: string; file: string }>,
): Promise<void> {
  if (p.runtime === "node") {
    await validateDeployment({ name: p.name, runtime: "node", source: p.source, filename: basename(p.file) });
    return;
  }
  if (p.runtime !== "flow") return;
  const config = loadConfig({ optional: true, ...(ctx.options.config ? { file: ctx.options.config } : {}) });
  const problems = await validateFlowFile(resolve(p.file), config.plugins, { file: p.file, baseDir: config.baseDir });
  if (problems.length > 0) {
    const lines = problems.map((q) => `  ${q.file}:${q.line}:${q.column}: ${q.path ? `${q.path}: ` : ""}${q.message}`);
    throw new KilnError(
      "INVALID_INPUT",
      `Flow ${p.name} is invalid (${problems.length} problem(s)):\n${lines.join("\n")}`,
      {
        data: { problems },
      },
    );
  }
}

/**
 * The adapter a workflow is deployed for without `-a`: `workflows.<name>.adapter` of the config
 * beside the working directory (or --config), when there is one.
 */
function configuredAdapter(ctx: CliContext, name: string): string | undefined {
  const config = loadConfig({ optional: true, ...(ctx.options.config ? { file: ctx.options.config } : {}) });
  return config.workflows[name]?.adapter ?? undefined;
}

/** Options of `kiln deploy` as typed: `-f` may be left out when the id is the file. */
export type DeployFileOptions = Omit<DeployOptions, "file"> & { readonly file?: string };

/** `kiln deploy wf.js` is `kiln deploy wf -f wf.js`: the id names an existing file. */
function withSourceFile(id: string, options: DeployFileOptions): DeployOptions {
  if (options.file !== undefined) return { ...options, file: options.file };
  if (!existsSync(id) || !statSync(id).isFile()) {
    throw new KilnError(
      "INVALID_INPUT",
      `No source for workflow "${id}": pass the file with -f FILE (or - for stdin), or give the file itself: kiln deploy ${id}.js`,
    );
  }
  return { ...options, file: id };
}

/** `kiln deploy <id> -f FILE|-`: uploads workflow source; identical source is a no-op. */
export async function deployCommand(ctx: CliContext, id: string, given: DeployFileOptions): Promise<number> {
  const options = withSourceFile(id, given);
  const source = readFileSync(options.file === "-" ? 0 : options.file, "utf8");
  const name = options.name ?? (given.file === undefined ? basename(id, extname(id)) : id);
  const adapter = options.adapter ?? configuredAdapter(ctx, name);
  if (adapter !== undefined && !(COMPUTE_ADAPTERS as readonly string[]).includes(adapter)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Unknown compute adapter "${adapter}" (--adapter); the adapters are ${COMPUTE_ADAPTERS.join(", ")}`,
    );
  }
  const runtime = runtimeFor(options.file, options.runtime, source);
  if (options.file !== "-") await checkLocally(ctx, { name, runtime, source, file: options.file });
  if (options.check && runtime !== "flow") {
    // The compat gate: refuse code that diverges from the histories of runs still in flight.
    const report = await assertDeployCompatible(ctx, { name, source, runtime });
    if (!ctx.options.json)
      ctx.output.err(`check: ${report.reports.length} in-flight run(s) replay cleanly against the new code`);
  }
  const body = {
    name,
    source,
    runtime,
    ...(options.version ? { version: options.version } : {}),
    ...(options.description ? { description: options.description } : {}),
    ...(adapter ? { adapter } : {}),
  };
  const result = await ctx
    .api()
    .post<{ name: string; version: string; contentHash: string; created: boolean }>("/v1/workflows", body)
    .catch((error: unknown) => {
      // Guessed as JavaScript and refused: say how to pick the runtime instead of leaving a JS parse error.
      if (
        options.runtime === undefined &&
        runtime === "node" &&
        hasCode(error, "INVALID_INPUT") &&
        /does not compile/.test((error as Error).message)
      ) {
        throw new KilnError(
          "INVALID_INPUT",
          `${(error as Error).message}\n(deployed as JavaScript/TypeScript${options.file === "-" ? " because stdin has no file extension" : ""}; if this is Python or a YAML flow, pass --runtime python or --runtime flow)`,
          { cause: error },
        );
      }
      throw error;
    });
  if (ctx.options.json) printJson(ctx.output, result);
  else
    ctx.output.out(
      result.created
        ? `deployed ${result.name} version ${result.version} (${result.contentHash.slice(0, 12)})`
        : `${result.name} is unchanged (version ${result.version})`,
    );
  return 0;
}

/** Adds `kiln deploy`. */
export function installDeployCommand(program: Command, run: Runner): void {
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
}
