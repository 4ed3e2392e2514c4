// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${schedule.time} syntax appears in plain strings on purpose.
import { z } from "zod";
import type { ScheduleFields } from "../engine/schedule-declaration.ts";

const instant = z.union([z.string().min(1), z.number()]);
const duration = z.union([z.string().min(1), z.number().min(0)]);

/** The timing and policy keys shared by a `schedules:` entry and the `schedule:` shorthand. */
const timingShape = {
  cron: z.string().min(1).describe('5 or 6 cron fields, "@hourly"-style macros, or "@every 90s"'),
  timezone: z.string().min(1).optional().describe("IANA time zone of the cron expression (default UTC)"),
  input: z.unknown().optional().describe("Run input; ${schedule.time}, ${schedule.timestamp}, ${schedule.date} expand"),
  jitter: duration.optional().describe('Start each run up to this long after its due time ("30s")'),
  start: instant.optional().describe("No fire before this time (ISO 8601)"),
  end: instant.optional().describe("No fire after this time (ISO 8601)"),
  overlap: z
    .enum(["skip", "buffer_one", "allow", "cancel_other", "terminate_other"])
    .optional()
    .describe("When the previous run is still live (default skip)"),
  catch_up: z.enum(["none", "latest", "all"]).optional().describe("Fires missed during downtime (default none)"),
  catch_up_window: duration.optional().describe("How far back catch-up reaches (default 1d)"),
  paused: z.boolean().optional().describe("Declared paused"),
  note: z.string().optional().describe("A note (why it is paused)"),
};

/** One entry of `schedules:`: starts a workflow or task kind on a cron schedule. */
export const scheduleSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "1-100 letters, digits, _ . - (starting alphanumeric)")
      .describe("The schedule's name, unique in the namespace"),
    workflow: z.string().min(1).optional().describe("The workflow to start (or task)"),
    task: z.string().min(1).optional().describe("The task kind to start (or workflow)"),
    queue: z.string().min(1).optional().describe("Queue of the runs"),
    priority: z.number().int().optional().describe("Priority of the runs"),
    timeout: duration.optional().describe("Timeout of the runs"),
    ...timingShape,
  })
  .describe("A schedule that starts runs");

/** `schedule:` on a task kind (or a flow's metadata): a cron text or the timing keys. */
export const scheduleShorthandSchema = z
  .union([z.string().min(1), z.strictObject(timingShape)])
  .describe('Start this on a schedule: a cron text ("*/5 * * * *") or {cron, timezone, input, overlap, …}');

/** A `schedules:` entry as written. */
export type ScheduleInput = z.output<typeof scheduleSchema>;
/** A `schedule:` shorthand as written. */
export type ScheduleShorthandInput = z.output<typeof scheduleShorthandSchema>;

/** The human fields of a shorthand that starts `target` (id: the target's name). */
export function shorthandFields(
  shorthand: ScheduleShorthandInput,
  target: { readonly type: "task" | "workflow"; readonly name: string },
): ScheduleFields {
  const t = typeof shorthand === "string" ? { cron: shorthand } : shorthand;
  return {
    ...scheduleFields({ ...t, id: target.name }),
    [target.type]: target.name,
  };
}

/** A `schedules:` entry (snake_case) as the camelCase fields resolveSchedule reads. */
export function scheduleFields(s: Omit<ScheduleInput, "id"> & { id: string }): ScheduleFields {
  const { catch_up, catch_up_window, ...rest } = s;
  return {
    ...rest,
    ...(catch_up === undefined ? {} : { catchUp: catch_up }),
    ...(catch_up_window === undefined ? {} : { catchUpWindow: catch_up_window }),
  };
}
