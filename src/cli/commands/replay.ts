import { readFileSync } from "node:fs";
import { extname } from "node:path";
import type { Command } from "commander";
import { KilnError } from "../../errors.ts";
import type { Run } from "../../engine/run.ts";
import type { Step } from "../../engine/step.ts";
import type { HostRuntime } from "../../runtimes/protocol.ts";
import {
  type CompatibilityReport,
  checkCompatibility,
  describeIncompatibility,
  describeReplay,
  type RunHistory,
  replayHistory,
} from "../../runtimes/replay.ts";
import type { CliContext } from "../context.ts";
import type { Runner } from "../command-registry.ts";
import { printJson } from "../output.ts";

/** Options of `kiln replay`. */
export interface ReplayOptions {
  readonly file?: string;
  readonly runtime?: string;
  readonly python?: string;
}

type RunWithSteps = Run & { steps?: Step[] };

interface DeploymentView {
  readonly name: string;
  readonly version: string;
  readonly runtime: string;
  readonly source?: string;
}

/** Statuses of runs whose history a new version must keep replaying. */
export const IN_FLIGHT_STATUSES = ["queued", "running", "sleeping", "waiting", "cancelling", "compensating"] as const;

/**
 * `kiln replay <run-id> [-f NEW_SOURCE]`: replays the run's recorded history locally (in a host
 * process, writing nothing) against the code it is pinned to, or against NEW_SOURCE, and reports
 * the first divergence. Exit code 0 when the code follows the history, 1 otherwise.
 */
export async function replayCommand(ctx: CliContext, id: string, options: ReplayOptions): Promise<number> {
  const run = await ctx.api().get<RunWithSteps>(`/v1/runs/${encodeURIComponent(id)}`);
  if (run.type !== "workflow")
    throw new KilnError("INVALID_INPUT", `Run ${id} is a task run; only workflow runs replay`);
  const { source, runtime } = options.file
    ? {
        source: readFileSync(options.file === "-" ? 0 : options.file, "utf8"),
        runtime: runtimeOf(options.file, options.runtime),
      }
    : await deployedSource(ctx, run, options.runtime);
  const report = await replayHistory({
    source,
    runtime,
    run,
    steps: run.steps ?? [],
    ...(options.python === undefined ? {} : { python: options.python }),
  });
  if (ctx.options.json) printJson(ctx.output, report);
  else ctx.output.out(describeReplay(report));
  return report.ok ? 0 : 1;
}

/** Params of the deploy check. */
export interface DeployCheckParams {
  readonly name: string;
  readonly source: string;
  readonly runtime: HostRuntime;
  readonly python?: string;
}

/**
 * The deploy gate of `kiln deploy --check`: replays `source` against the history of every run of
 * workflow `name` still in flight (fetched through the API) and returns what it found.
 */
export async function checkDeploy(ctx: CliContext, p: Readonly<DeployCheckParams>): Promise<CompatibilityReport> {
  const histories: RunHistory[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.api().get<{ items: Run[]; nextCursor: string | null }>("/v1/runs", {
      name: p.name,
      type: "workflow",
      status: IN_FLIGHT_STATUSES.join(","),
      limit: 1000,
      cursor,
    });
    for (const item of page.items) {
      const run = await ctx.api().get<RunWithSteps>(`/v1/runs/${encodeURIComponent(item.id)}`);
      // A run that recorded nothing yet cannot diverge.
      if ((run.steps ?? []).length > 0) histories.push({ run, steps: run.steps ?? [] });
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return await checkCompatibility({
    source: p.source,
    runtime: p.runtime,
    histories,
    ...(p.python === undefined ? {} : { python: p.python }),
  });
}

/** `checkDeploy`, throwing NON_DETERMINISTIC (naming runs and steps) when a history diverges. */
export async function assertDeployCompatible(
  ctx: CliContext,
  p: Readonly<DeployCheckParams>,
): Promise<CompatibilityReport> {
  const report = await checkDeploy(ctx, p);
  if (!report.ok) throw describeIncompatibility(p.name, report);
  return report;
}

async function deployedSource(
  ctx: CliContext,
  run: Run,
  runtime: string | undefined,
): Promise<{ source: string; runtime: HostRuntime }> {
  const name = encodeURIComponent(run.name);
  const path = run.version
    ? `/v1/workflows/${name}/versions/${encodeURIComponent(run.version)}`
    : `/v1/workflows/${name}`;
  const deployment = await ctx.api().get<DeploymentView>(path);
  if (typeof deployment.source !== "string") {
    throw new KilnError(
      "WORKFLOW_NOT_FOUND",
      `The server returned no source for workflow "${run.name}"; pass the code with -f FILE`,
    );
  }
  const chosen = runtime ?? deployment.runtime;
  if (chosen !== "node" && chosen !== "python") {
    throw new KilnError(
      "INVALID_INPUT",
      `Runs of ${chosen} workflows do not replay in a host; expected node or python`,
    );
  }
  return { source: deployment.source, runtime: chosen };
}

function runtimeOf(file: string, runtime: string | undefined): HostRuntime {
  const chosen = runtime ?? ([".py"].includes(extname(file).toLowerCase()) ? "python" : "node");
  if (chosen !== "node" && chosen !== "python") {
    throw new KilnError("INVALID_INPUT", `Expected --runtime to be node or python, got "${chosen}"`);
  }
  return chosen;
}

/** Adds `kiln replay` to the program. */
export function installReplayCommand(program: Command, run: Runner): void {
  program
    .command("replay <run-id>")
    .description(
      "replay a workflow run's recorded history against its code (or -f NEW_SOURCE); report the first divergence",
    )
    .option("-f, --file <file>", "new workflow source to check (- for stdin)")
    .option("--runtime <runtime>", "node | python (default: from the extension, or the deployment)")
    .option("--python <path>", "Python interpreter for Python workflows")
    .action(run((ctx, id: string, opts) => replayCommand(ctx, id, opts as ReplayOptions)));
}
