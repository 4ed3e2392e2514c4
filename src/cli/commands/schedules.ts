// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${schedule.time} placeholders appear in plain strings on purpose.
import type { Command } from "commander";
import { parseJsonInput } from "../../engine/payload.ts";
import type { Schedule, ScheduleFire } from "../../store/schedule-store.ts";
import type { Runner } from "../command-registry.ts";
import type { CliContext } from "../context.ts";
import { printJson, table } from "../output.ts";

type ScheduleDetail = Schedule & { nextFireTimes: number[]; recentFires: ScheduleFire[] };

interface CreateOptions {
  readonly cron: string;
  readonly workflow?: string;
  readonly task?: string;
  readonly timezone?: string;
  readonly input?: string;
  readonly jitter?: string;
  readonly start?: string;
  readonly end?: string;
  readonly overlap?: string;
  readonly catchUp?: string;
  readonly catchUpWindow?: string;
  readonly queue?: string;
  readonly priority?: string;
  readonly timeout?: string;
  readonly paused?: boolean;
  readonly note?: string;
}

const time = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString().replace(".000Z", "Z"));
const path = (id: string, action = "") => `/v1/schedules/${encodeURIComponent(id)}${action}`;

function print(ctx: CliContext, value: unknown, text: string): number {
  if (ctx.options.json) printJson(ctx.output, value);
  else ctx.output.out(text);
  return 0;
}

async function createSchedule(ctx: CliContext, id: string, o: CreateOptions): Promise<number> {
  const body = {
    id,
    cron: o.cron,
    ...(o.workflow === undefined ? {} : { workflow: o.workflow }),
    ...(o.task === undefined ? {} : { task: o.task }),
    ...(o.timezone === undefined ? {} : { timezone: o.timezone }),
    ...(o.input === undefined ? {} : { input: parseJsonInput(o.input, "input given with -i") }),
    ...(o.jitter === undefined ? {} : { jitter: o.jitter }),
    ...(o.start === undefined ? {} : { start: o.start }),
    ...(o.end === undefined ? {} : { end: o.end }),
    ...(o.overlap === undefined ? {} : { overlap: o.overlap }),
    ...(o.catchUp === undefined ? {} : { catchUp: o.catchUp }),
    ...(o.catchUpWindow === undefined ? {} : { catchUpWindow: o.catchUpWindow }),
    ...(o.queue === undefined ? {} : { queue: o.queue }),
    ...(o.priority === undefined ? {} : { priority: Number(o.priority) }),
    ...(o.timeout === undefined ? {} : { timeout: o.timeout }),
    ...(o.paused ? { paused: true } : {}),
    ...(o.note === undefined ? {} : { note: o.note }),
  };
  const s = await ctx.api().post<Schedule>("/v1/schedules", body);
  return print(ctx, s, `schedule ${s.id}: next fire ${time(s.nextDueAt)}`);
}

async function listSchedules(ctx: CliContext): Promise<number> {
  const page = await ctx.api().get<{ items: Schedule[] }>("/v1/schedules");
  const rows = page.items.map((s) => [
    s.id,
    `${s.target.type} ${s.target.name}`,
    s.cron,
    s.timezone,
    s.paused ? `paused${s.note ? ` (${s.note})` : ""}` : time(s.nextDueAt),
    s.source,
  ]);
  return print(ctx, page, table(rows, ["ID", "STARTS", "CRON", "ZONE", "NEXT", "SOURCE"]));
}

async function showSchedule(ctx: CliContext, id: string): Promise<number> {
  const s = await ctx.api().get<ScheduleDetail>(path(id));
  const lines = [
    `schedule ${s.id} (${s.source}): ${s.target.type} ${s.target.name}`,
    `cron: ${s.cron} (${s.timezone})  overlap: ${s.overlap}  catch-up: ${s.catchUp}  jitter: ${s.jitterMs}ms`,
    s.paused ? `paused${s.note ? `: ${s.note}` : ""}` : "active",
    "next fire times:",
    ...(s.nextFireTimes.length > 0 ? s.nextFireTimes.map((t) => `  ${time(t)}`) : ["  (none)"]),
    "last results:",
    ...(s.recentFires.length > 0
      ? s.recentFires.map(
          (f) => `  ${time(f.dueAt)} ${f.outcome}${f.runId ? ` ${f.runId}` : ""}${f.reason ? ` (${f.reason})` : ""}`,
        )
      : ["  (none yet)"]),
  ];
  return print(ctx, s, lines.join("\n"));
}

async function pauseSchedule(ctx: CliContext, id: string, o: { note?: string }): Promise<number> {
  const s = await ctx.api().post<Schedule>(path(id, "/pause"), o.note === undefined ? {} : { note: o.note });
  return print(ctx, s, `schedule ${s.id} paused`);
}

async function resumeSchedule(ctx: CliContext, id: string): Promise<number> {
  const s = await ctx.api().post<Schedule>(path(id, "/resume"));
  return print(ctx, s, `schedule ${s.id} resumed: next fire ${time(s.nextDueAt)}`);
}

async function triggerSchedule(ctx: CliContext, id: string): Promise<number> {
  const fire = await ctx.api().post<ScheduleFire>(path(id, "/trigger"));
  return print(ctx, fire, fire.runId ?? "");
}

async function backfillSchedule(ctx: CliContext, id: string, o: { from: string; to: string }): Promise<number> {
  const page = await ctx.api().post<{ items: ScheduleFire[] }>(path(id, "/backfill"), { from: o.from, to: o.to });
  return print(ctx, page, page.items.map((f) => `${time(f.dueAt)} ${f.runId ?? "-"}`).join("\n"));
}

async function deleteSchedule(ctx: CliContext, id: string): Promise<number> {
  const result = await ctx.api().delete<{ id: string }>(path(id));
  return print(ctx, result, `schedule ${id} deleted`);
}

/** Adds `kiln schedules …`: cron schedules that start runs. */
export function installScheduleCommands(program: Command, run: Runner): void {
  const schedules = program.command("schedules").description("cron schedules that start runs");
  schedules
    .command("create <id>")
    .description("create or replace a schedule")
    .requiredOption("--cron <expr>", '5 or 6 cron fields, "@hourly", or "@every 90s"')
    .option("--workflow <name>", "the workflow to start")
    .option("--task <kind>", "the task kind to start")
    .option("--timezone <zone>", "IANA time zone of the cron expression (default UTC)")
    .option("-i, --input <json>", "run input (${schedule.time} etc. expand)")
    .option("--jitter <duration>", 'start each run up to this long after its due time ("30s")')
    .option("--start <time>", "no fire before this time (ISO 8601)")
    .option("--end <time>", "no fire after this time (ISO 8601)")
    .option("--overlap <policy>", "skip | buffer_one | allow | cancel_other | terminate_other (default skip)")
    .option("--catch-up <policy>", "none | latest | all (default none)")
    .option("--catch-up-window <duration>", "how far back catch-up reaches (default 1d)")
    .option("--queue <queue>", "queue of the runs")
    .option("--priority <n>", "priority of the runs")
    .option("--timeout <duration>", "timeout of the runs")
    .option("--paused", "create it paused")
    .option("--note <text>", "a note (why it is paused)")
    .action(run((ctx, id: string, opts) => createSchedule(ctx, id, opts as CreateOptions)));
  schedules
    .command("list")
    .description("list schedules")
    .action(run((ctx) => listSchedules(ctx)));
  schedules
    .command("show <id>")
    .description("a schedule, its next 5 fire times and its last results")
    .action(run((ctx, id: string) => showSchedule(ctx, id)));
  schedules
    .command("pause <id>")
    .description("pause a schedule")
    .option("--note <text>", "why")
    .action(run((ctx, id: string, opts) => pauseSchedule(ctx, id, opts as { note?: string })));
  schedules
    .command("resume <id>")
    .description("resume a schedule from now")
    .action(run((ctx, id: string) => resumeSchedule(ctx, id)));
  schedules
    .command("trigger <id>")
    .description("start a run of the schedule now; prints the run id")
    .action(run((ctx, id: string) => triggerSchedule(ctx, id)));
  schedules
    .command("backfill <id>")
    .description("start the runs of every due time in a past range")
    .requiredOption("--from <time>", "start of the range (ISO 8601)")
    .requiredOption("--to <time>", "end of the range, inclusive (ISO 8601)")
    .action(run((ctx, id: string, opts) => backfillSchedule(ctx, id, opts as { from: string; to: string })));
  schedules
    .command("delete <id>")
    .description("delete a schedule (its runs stay)")
    .action(run((ctx, id: string) => deleteSchedule(ctx, id)));
}
