// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${schedule.time} placeholders appear in plain strings on purpose.
import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { parseInstant, resolveSchedule } from "../../engine/schedule-declaration.ts";
import { nextDueTimes } from "../../engine/schedule-spec.ts";
import type { Schedule } from "../../store/schedule-store.ts";
import type { Store } from "../../store/store.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { pageOf } from "../api-schemas.ts";

const IdParams = z.object({ id: z.string().min(1).max(100) });
const Instant = z.union([z.string().min(1).max(100), z.number()]);
const Duration = z.union([z.string().min(1).max(100), z.number().min(0)]);

const PutScheduleBody = z.strictObject({
  id: z.string().min(1).max(100).describe("The schedule's name, unique in the namespace"),
  cron: z.string().min(1).max(200).describe('5 or 6 cron fields, "@hourly"-style macros, or "@every 90s"'),
  timezone: z.string().min(1).max(100).optional().describe("IANA time zone of the cron expression (default UTC)"),
  workflow: z.string().min(1).max(200).optional().describe("The workflow to start (or task)"),
  task: z.string().min(1).max(200).optional().describe("The task kind to start (or workflow)"),
  input: z.unknown().optional().describe("Run input; ${schedule.time}, ${schedule.timestamp}, ${schedule.date} expand"),
  jitter: Duration.optional().describe('Start each run up to this long after its due time ("30s")'),
  start: Instant.optional().describe("No fire before this time (ISO 8601 or epoch ms)"),
  end: Instant.optional().describe("No fire after this time"),
  overlap: z
    .enum(["skip", "buffer_one", "allow", "cancel_other", "terminate_other"])
    .optional()
    .describe("When the previous run is still live (default skip)"),
  catchUp: z.enum(["none", "latest", "all"]).optional().describe("Fires missed during downtime (default none)"),
  catchUpWindow: Duration.optional().describe("How far back catch-up reaches (default 1d)"),
  queue: z.string().min(1).max(200).optional(),
  priority: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  timeout: Duration.optional().describe("Run timeout"),
  paused: z.boolean().optional(),
  note: z.string().max(1000).optional(),
});

const ScheduleSchema = z
  .object({
    namespace: z.string(),
    id: z.string(),
    target: z.object({ type: z.enum(["task", "workflow"]), name: z.string() }),
    cron: z.string(),
    timezone: z.string(),
    input: z.unknown(),
    jitterMs: z.number(),
    startAt: z.number().nullable(),
    endAt: z.number().nullable(),
    overlap: z.string(),
    catchUp: z.string(),
    catchUpWindowMs: z.number(),
    runOptions: z.record(z.string(), z.unknown()),
    paused: z.boolean(),
    note: z.string().nullable(),
    source: z.enum(["api", "config", "flow"]),
    nextDueAt: z.number().nullable(),
    lastDueAt: z.number().nullable(),
    lastRunId: z.string().nullable(),
    bufferedDueAt: z.number().nullable(),
    createdAt: z.number(),
    updatedAt: z.number(),
  })
  .describe("A schedule");

const FireSchema = z.object({
  namespace: z.string(),
  scheduleId: z.string(),
  dueAt: z.number(),
  firedAt: z.number(),
  outcome: z.enum(["started", "skipped", "buffered", "missed"]),
  runId: z.string().nullable(),
  reason: z.string().nullable(),
});

const ScheduleDetail = ScheduleSchema.extend({
  nextFireTimes: z.array(z.number()).describe("The next 5 due times (epoch ms)"),
  recentFires: z.array(FireSchema).describe("The latest handled due times, newest first"),
});

async function scheduleOrThrow(store: Store, namespace: string, id: string): Promise<Schedule> {
  const s = await store.getSchedule({ namespace, id });
  if (!s)
    throw new KilnError(
      "SCHEDULE_NOT_FOUND",
      `No schedule "${id}" in namespace "${namespace}"; see kiln schedules list`,
    );
  return s;
}

/** The next 5 due times of a schedule from now (none while paused). */
function nextFireTimes(s: Schedule, now: number): number[] {
  if (s.paused || s.nextDueAt === null) return [];
  return [s.nextDueAt, ...nextDueTimes(s, Math.max(s.nextDueAt, now), s.createdAt, 4)].slice(0, 5);
}

/** Schedules: create or replace, list, show (next fire times, last results), pause, resume, trigger, backfill, delete. */
export const scheduleRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/schedules",
    operationId: "listSchedules",
    summary: "List the schedules of the namespace",
    tag: "schedules",
    access: ACCESS.read,
    responses: { 200: { description: "The schedules by id", schema: pageOf(ScheduleSchema) } },
    async handle({ auth, c, deps }) {
      return c.json({ items: await deps.store.listSchedules({ namespace: auth.namespace }), nextCursor: null });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/schedules",
    operationId: "putSchedule",
    summary: "Create or replace a schedule",
    tag: "schedules",
    access: ACCESS.write,
    body: PutScheduleBody,
    responses: {
      201: { description: "Created", schema: ScheduleSchema },
      200: { description: "Replaced", schema: ScheduleSchema },
    },
    async handle({ body, auth, c, deps }) {
      const declaration = resolveSchedule(body, "body");
      const { schedule, created } = await deps.store.putSchedule({
        ...declaration,
        namespace: auth.namespace,
        source: "api",
      });
      c.header("Location", `/v1/schedules/${schedule.id}`);
      return c.json(schedule, created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/schedules/:id",
    operationId: "getSchedule",
    summary: "Get a schedule with its next 5 fire times and its last results",
    tag: "schedules",
    access: ACCESS.read,
    params: IdParams,
    responses: { 200: { description: "The schedule", schema: ScheduleDetail } },
    async handle({ params, auth, c, deps }) {
      const s = await scheduleOrThrow(deps.store, auth.namespace, params.id);
      const recentFires = await deps.store.listScheduleFires({ namespace: auth.namespace, id: s.id, limit: 10 });
      return c.json({ ...s, nextFireTimes: nextFireTimes(s, deps.clock()), recentFires });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/schedules/:id/pause",
    operationId: "pauseSchedule",
    summary: "Pause a schedule, with a note saying why",
    tag: "schedules",
    access: ACCESS.write,
    params: IdParams,
    body: z.strictObject({ note: z.string().max(1000).optional() }),
    responses: { 200: { description: "The paused schedule", schema: ScheduleSchema } },
    async handle({ params, body, auth, c, deps }) {
      await scheduleOrThrow(deps.store, auth.namespace, params.id);
      return c.json(
        await deps.store.setSchedulePaused({
          namespace: auth.namespace,
          id: params.id,
          paused: true,
          ...(body.note === undefined ? {} : { note: body.note }),
        }),
      );
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/schedules/:id/resume",
    operationId: "resumeSchedule",
    summary: "Resume a paused schedule from now (the paused time is not caught up)",
    tag: "schedules",
    access: ACCESS.write,
    params: IdParams,
    responses: { 200: { description: "The resumed schedule", schema: ScheduleSchema } },
    async handle({ params, auth, c, deps }) {
      await scheduleOrThrow(deps.store, auth.namespace, params.id);
      return c.json(
        await deps.store.setSchedulePaused({ namespace: auth.namespace, id: params.id, paused: false, note: null }),
      );
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/schedules/:id/trigger",
    operationId: "triggerSchedule",
    summary: "Start a run of the schedule now",
    tag: "schedules",
    access: ACCESS.write,
    params: IdParams,
    responses: { 200: { description: "The fire and its run", schema: FireSchema } },
    async handle({ params, auth, c, deps }) {
      const fire = await deps.store.triggerSchedule({ namespace: auth.namespace, id: params.id });
      deps.live.poke([], auth.namespace);
      return c.json(fire);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/schedules/:id/backfill",
    operationId: "backfillSchedule",
    summary: "Start the runs of every due time in a past range (a fire that ran is not repeated)",
    tag: "schedules",
    access: ACCESS.write,
    params: IdParams,
    body: z.strictObject({
      from: Instant.describe("Start of the range (ISO 8601 or epoch ms)"),
      to: Instant.describe("End of the range, inclusive"),
    }),
    responses: { 200: { description: "The fires", schema: pageOf(FireSchema) } },
    async handle({ params, body, auth, c, deps }) {
      const from = parseInstant(body.from, "from");
      const to = parseInstant(body.to, "to");
      if (to < from) throw new KilnError("INVALID_INPUT", `Expected "to" to be after "from"`);
      const fires = await deps.store.backfillSchedule({ namespace: auth.namespace, id: params.id, from, to });
      deps.live.poke([], auth.namespace);
      return c.json({ items: fires, nextCursor: null });
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/v1/schedules/:id",
    operationId: "deleteSchedule",
    summary: "Delete a schedule (its started runs stay)",
    tag: "schedules",
    access: ACCESS.write,
    params: IdParams,
    responses: {
      200: { description: "Deleted", schema: z.object({ id: z.string(), deleted: z.literal(true) }) },
    },
    async handle({ params, auth, c, deps }) {
      if (!(await deps.store.deleteSchedule({ namespace: auth.namespace, id: params.id }))) {
        throw new KilnError("SCHEDULE_NOT_FOUND", `No schedule "${params.id}" in namespace "${auth.namespace}"`);
      }
      return c.json({ id: params.id, deleted: true as const });
    },
  }),
];
