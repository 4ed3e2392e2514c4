import type { Command } from "commander";
import type { Runner } from "../command-registry.ts";
import { listResourceCommand } from "./admin.ts";
import { readFileSync } from "node:fs";
import { hasCode, KilnError } from "../../errors.ts";
import { parseDuration } from "../../engine/duration.ts";
import { parseJsonInput } from "../../engine/payload.ts";
import { parseInstant } from "../../engine/schedule-declaration.ts";
import type { Run } from "../../engine/run.ts";
import { isTerminal } from "../../engine/status.ts";
import type { Step } from "../../engine/step.ts";
import type { LogEntry } from "../../engine/log-entry.ts";
import type { RunHandle, StartRunBody } from "../../client/kiln-client.ts";
import type { CliContext } from "../context.ts";
import { RunChanges } from "../../client/run-changes.ts";
import { ChildRunLogs } from "../child-run-logs.ts";
import { humanDuration, timeAgo } from "../human-time.ts";
import { describeRun, printJson, progressBar, table } from "../output.ts";
import { paint, statusStyle } from "../terminal-style.ts";

/** Options of `kiln start` / `kiln run`. */
export interface StartOptions {
  readonly input?: string;
  readonly inputFile?: string;
  readonly wait?: boolean;
  readonly follow?: boolean;
  readonly idempotencyKey?: string;
  readonly queue?: string;
  readonly priority?: string;
  readonly version?: string;
  readonly timeout?: string;
  readonly allowUnknown?: boolean;
  readonly callbackUrl?: string;
  /** `--delay 10m`: start no earlier than this long from now. */
  readonly delay?: string;
  /** `--at 2026-12-24T09:00Z`: start no earlier than this time. */
  readonly at?: string;
}

/** After this long queued, `--wait` says whether any live worker serves the run's queue. */
const QUEUED_NOTICE_MS = 5000;

type RunView = Run & { steps?: Step[] };

/** Reads `-i JSON`, `--input-file F` (`-` = stdin). */
export function readInput(options: Pick<StartOptions, "input" | "inputFile">): unknown {
  if (options.input !== undefined && options.inputFile !== undefined) {
    throw new KilnError("INVALID_INPUT", "Pass the input either with -i/--input or with --input-file, not both");
  }
  if (options.input !== undefined) return parseJsonInput(options.input, "input given with -i");
  if (options.inputFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.inputFile === "-" ? 0 : options.inputFile, "utf8");
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new KilnError("INVALID_INPUT", `Cannot read the input file ${options.inputFile} (${why}): check the path`, {
        cause: error,
      });
    }
    return parseJsonInput(text, `input file ${options.inputFile}`);
  }
  return null;
}

/** `--timeout`: a duration like every other (`90s`, `10m`, `1h`); a bare number is seconds, as before. */
export function parseRunTimeout(text: string): number {
  return /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) * 1000 : parseDuration(text, "--timeout");
}

/** `kiln start <workflow>` and `kiln run <task-kind>`: start a run, print its id, optionally wait. */
export async function startCommand(
  ctx: CliContext,
  type: "workflow" | "task",
  name: string,
  options: StartOptions,
): Promise<number> {
  const input = readInput(options);
  const body: Record<string, unknown> = { type, name, input };
  if (options.idempotencyKey) body.idempotencyKey = options.idempotencyKey;
  if (options.queue) body.queue = options.queue;
  if (options.priority) body.priority = Number(options.priority);
  if (options.version) body.version = options.version;
  if (options.timeout) body.timeoutMs = parseRunTimeout(options.timeout);
  if (options.allowUnknown) body.allowUnknown = true;
  if (options.callbackUrl) body.callbackUrl = options.callbackUrl;
  if (options.delay !== undefined && options.at !== undefined) {
    throw new KilnError("INVALID_INPUT", "Pass either --delay or --at, not both");
  }
  if (options.delay !== undefined) body.delayMs = parseDuration(options.delay, "--delay");
  if (options.at !== undefined) body.startAt = parseInstant(options.at, "--at");
  const handle = await (await ctx.api().typed()).startRun(body as unknown as StartRunBody);
  const run = handle.started as RunView;
  if (!options.wait && !options.follow) {
    if (ctx.options.json) printJson(ctx.output, run);
    else ctx.output.out(run.id);
    if (!ctx.options.json && run.availableAt !== null && run.availableAt > Date.now()) {
      ctx.output.err(
        `scheduled: starts at ${new Date(run.availableAt).toISOString()}; cancel with kiln cancel ${run.id}`,
      );
    }
    return 0;
  }
  if (!ctx.options.json) ctx.output.err(`started ${type} run ${run.id}`);
  const final = await waitForRun(ctx, run.id, { follow: Boolean(options.follow) });
  if (ctx.options.json) printJson(ctx.output, final);
  else ctx.output.out(describeRun(final));
  return final.status === "completed" ? 0 : 1;
}

/** How long `--wait` keeps trying while the server cannot be reached (a restart), in all. */
const UNREACHABLE_GIVE_UP_MS = 300_000;

/**
 * Waits until a run is terminal, showing progress (a bar on a terminal) or following logs. Ctrl-C
 * stops the waiting, not the run: it says so, and how to cancel it.
 */
export async function waitForRun(
  ctx: CliContext,
  id: string,
  options: { follow: boolean; afterSeq?: number },
): Promise<RunView> {
  const onInterrupt = () => {
    if (ctx.output.isTTY) process.stderr.write("\n");
    ctx.output.err(
      `Stopped waiting; run ${id} continues on the server. Follow it with \`kiln status ${id}\`, cancel it with \`kiln cancel ${id}\`.`,
    );
    process.exit(130);
  };
  process.once("SIGINT", onInterrupt);
  try {
    return await followRun(ctx, id, options);
  } finally {
    process.removeListener("SIGINT", onInterrupt);
  }
}

/**
 * The server's SSE stream says when the run changed (its end is pushed at the terminal commit); the
 * run is read after each change, and again whenever the stream is reopened (server restart).
 */
async function followRun(
  ctx: CliContext,
  id: string,
  options: { follow: boolean; afterSeq?: number },
): Promise<RunView> {
  let afterSeq = options.afterSeq ?? 0;
  let lastLine = "";
  const startedWaiting = Date.now();
  let noticed = false;
  const client = await ctx.api().typed();
  const changes = new RunChanges(
    (runId, types) => client.openRunStream(runId, types),
    id,
    options.follow ? "run,step,progress,log" : "run,step,progress",
  );
  const children = options.follow ? new ChildRunLogs(id, printLogs) : null;
  try {
    for (;;) {
      const run = await readWhileWaiting(ctx, client.run(id), changes);
      if (!noticed && run.status === "queued" && Date.now() - startedWaiting > QUEUED_NOTICE_MS) {
        noticed = true;
        await noticeNoWorker(ctx, run);
      }
      if (options.follow) afterSeq = await printLogs(ctx, id, afterSeq);
      await children?.printNew(ctx);
      if (!ctx.options.json && !options.follow) {
        const done = run.steps?.filter((s) => s.status === "completed").length ?? 0;
        const percent = run.status === "completed" && run.progress ? 100 : (run.progress?.percent ?? null);
        const line = `${run.status.padEnd(11)} ${percent === null ? "" : `${progressBar(percent)} `}${done} step(s) done${run.progress?.message ? ` — ${run.progress.message}` : ""}`;
        if (ctx.output.isTTY) process.stderr.write(`\r${line.padEnd(lastLine.length)}`);
        else if (line !== lastLine) ctx.output.err(line);
        lastLine = line;
      }
      if (isTerminal(run.status)) {
        if (ctx.output.isTTY && !ctx.options.json && !options.follow) process.stderr.write("\n");
        return run;
      }
      await changes.next();
    }
  } finally {
    changes.close();
  }
}

/** Reads the run; while the server is unreachable (restarting), waits and tries again. */
async function readWhileWaiting(ctx: CliContext, run: RunHandle, changes: RunChanges): Promise<RunView> {
  const id = run.id;
  let lostSince: number | undefined;
  for (;;) {
    try {
      return (await run.get()) as unknown as RunView;
    } catch (error) {
      if (!hasCode(error, "SERVER_UNAVAILABLE")) throw error;
      if (lostSince === undefined) {
        lostSince = Date.now();
        ctx.output.err(`lost the server while waiting for run ${id}; trying again`);
      } else if (Date.now() - lostSince > UNREACHABLE_GIVE_UP_MS) {
        throw error;
      }
      await changes.next(); // reopening the stream waits with a backoff
    }
  }
}

/** Says on stderr why a run may stay queued: no live worker serves its queue, or none declares it. */
async function noticeNoWorker(ctx: CliContext, run: Run): Promise<void> {
  type WorkerView = { name: string; queues: string[]; kinds: { kind: string }[]; workflows: string[]; alive: boolean };
  const workers = (await ctx.api().get<{ items: WorkerView[] }>("/v1/workers")).items.filter((w) => w.alive);
  const onQueue = workers.filter((w) => w.queues.includes(run.queue));
  const what = run.type === "task" ? `task kind "${run.name}"` : `workflow "${run.name}"`;
  if (onQueue.length === 0) {
    ctx.output.err(
      `run ${run.id} is still queued: no live worker serves queue "${run.queue}" in this namespace (start one with \`kiln worker\`); still waiting`,
    );
  } else if (run.type === "task" && !onQueue.some((w) => w.kinds.some((k) => k.kind === run.name))) {
    ctx.output.err(
      `run ${run.id} is still queued: no live worker on queue "${run.queue}" declares ${what}; still waiting`,
    );
  } else {
    ctx.output.err(
      `run ${run.id} is still queued (${onQueue.length} live worker(s) on queue "${run.queue}" are busy); still waiting`,
    );
  }
}

/** Prints a run's log lines after `afterSeq`, prefixed `[label]` when given (a child run's lines). */
async function printLogs(ctx: CliContext, id: string, afterSeq: number, label?: string): Promise<number> {
  let seq = afterSeq;
  for (;;) {
    const page = await ctx
      .api()
      .get<{ items: LogEntry[]; nextSeq?: number }>(`/v1/runs/${encodeURIComponent(id)}/logs`, {
        after: seq,
        limit: 500,
      });
    for (const line of page.items) {
      if (ctx.options.json) ctx.output.out(JSON.stringify(line));
      else
        ctx.output.out(
          `${new Date(line.ts).toISOString()} ${line.level.padEnd(7)} ${label ? `${label} | ` : ""}${line.stepName ? `[${line.stepName}] ` : ""}${line.message}`,
        );
      seq = Math.max(seq, line.seq);
    }
    if (page.items.length < 500) return seq;
  }
}

/** `kiln status <run-id>`. */
export async function statusCommand(ctx: CliContext, id: string): Promise<number> {
  const run = (await (await ctx.api().typed()).run(id).get()) as unknown as RunView;
  if (ctx.options.json) printJson(ctx.output, run);
  else ctx.output.out(describeRun(run));
  return 0;
}

/** `kiln logs <run-id> [-f]`. */
export async function logsCommand(ctx: CliContext, id: string, options: { follow?: boolean }): Promise<number> {
  const seq = await printLogs(ctx, id, 0);
  if (!options.follow) return 0;
  // Following the logs is waiting with the logs shown: the same push-driven loop.
  await waitForRun(ctx, id, { follow: true, afterSeq: seq });
  return 0;
}

/** `kiln cancel <run-id>`. */
export async function cancelCommand(ctx: CliContext, id: string): Promise<number> {
  const run = (await (await ctx.api().typed()).run(id).cancel()) as unknown as RunView;
  if (ctx.options.json) printJson(ctx.output, run);
  else ctx.output.out(`${run.id} ${run.status}`);
  return 0;
}

/** `kiln retry <run-id> [--from-step NAME]`. */
export async function retryCommand(
  ctx: CliContext,
  id: string,
  options: { fromStep?: string; wait?: boolean },
): Promise<number> {
  const run = await ctx
    .api()
    .post<RunView>(`/v1/runs/${encodeURIComponent(id)}/retry`, options.fromStep ? { fromStep: options.fromStep } : {});
  if (options.wait) {
    const final = await waitForRun(ctx, run.id, { follow: false });
    if (ctx.options.json) printJson(ctx.output, final);
    else ctx.output.out(describeRun(final));
    return final.status === "completed" ? 0 : 1;
  }
  if (ctx.options.json) printJson(ctx.output, run);
  else ctx.output.out(`${run.id} ${run.status} (attempt ${run.attempt})`);
  return 0;
}

/** `kiln list runs [--workflow W] [--status S] [-n N]`. */
export async function listRunsCommand(
  ctx: CliContext,
  options: { workflow?: string; task?: string; status?: string; limit?: string },
): Promise<number> {
  const page = await ctx.api().get<{ items: Run[]; nextCursor: string | null }>("/v1/runs", {
    name: options.workflow ?? options.task,
    type: options.workflow ? "workflow" : options.task ? "task" : undefined,
    status: options.status,
    limit: options.limit ?? 20,
  });
  if (ctx.options.json) {
    printJson(ctx.output, page);
    return 0;
  }
  const now = Date.now();
  const color = ctx.output.color ?? false;
  const rows = page.items.map((r) => [
    r.id,
    r.type,
    r.name,
    // A queued run not due yet is a delayed (scheduled) start.
    r.status === "queued" && r.availableAt !== null && r.availableAt > now
      ? `scheduled ${new Date(r.availableAt).toISOString().replace("T", " ").slice(0, 19)}`
      : paint(color, statusStyle(r.status), r.status),
    String(r.attempt),
    timeAgo(r.createdAt, now),
    // Running runs show how long they have run so far; runs not started yet show nothing.
    r.startedAt ? humanDuration((r.finishedAt ?? now) - r.startedAt) : "",
  ]);
  ctx.output.out(table(rows, ["ID", "TYPE", "NAME", "STATUS", "ATTEMPT", "CREATED", "DURATION"]));
  return 0;
}

/** Adds the commands that start and follow runs: start, run, status, logs, cancel, retry, list. */
export function installRunCommands(program: Command, run: Runner): void {
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
}
