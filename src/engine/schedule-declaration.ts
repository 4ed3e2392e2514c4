import { KilnError } from "../errors.ts";
import { parseDuration } from "./duration.ts";
import type { RunType } from "./run.ts";
import {
  CATCH_UP_POLICIES,
  type CatchUpPolicy,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  type ScheduleTiming,
  validateTiming,
} from "./schedule-spec.ts";

/** The default reach of catch-up `latest` / `all` after downtime: one day. */
export const DEFAULT_CATCH_UP_WINDOW_MS = 86_400_000;

/** A schedule as people write it (config, API, CLI): durations like "30s", times as ISO text. */
export interface ScheduleFields {
  readonly id: string;
  readonly cron: string;
  readonly timezone?: string | undefined;
  /** The workflow to start (or `task`). */
  readonly workflow?: string | undefined;
  /** The task kind to start (or `workflow`). */
  readonly task?: string | undefined;
  readonly input?: unknown;
  readonly jitter?: string | number | undefined;
  readonly start?: string | number | undefined;
  readonly end?: string | number | undefined;
  readonly overlap?: string | undefined;
  readonly catchUp?: string | undefined;
  readonly catchUpWindow?: string | number | undefined;
  readonly queue?: string | undefined;
  readonly priority?: number | undefined;
  readonly timeout?: string | number | undefined;
  readonly paused?: boolean | undefined;
  readonly note?: string | undefined;
}

/** A schedule resolved once: milliseconds, epoch times, policies checked. */
export interface ScheduleDeclaration extends ScheduleTiming {
  readonly id: string;
  readonly target: { readonly type: RunType; readonly name: string };
  readonly input: unknown;
  readonly overlap: OverlapPolicy;
  readonly catchUp: CatchUpPolicy;
  readonly catchUpWindowMs: number;
  readonly runOptions: { readonly queue?: string; readonly priority?: number; readonly timeoutMs?: number };
  readonly paused?: boolean;
  readonly note?: string;
}

/** An instant: ISO 8601 text (`2026-12-24T09:00Z`) or epoch milliseconds. */
export function parseInstant(value: string | number, what: string): number {
  const ms = typeof value === "number" ? value : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "${what}" to be an ISO 8601 time like "2026-12-24T09:00Z" or epoch milliseconds, got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

/** Schedule ids: also the `schedule:` shorthand's task kind or workflow name. */
export const SCHEDULE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

/** Resolves and checks a schedule as written; `where` prefixes messages (e.g. `schedules[2]`). */
export function resolveSchedule(f: Readonly<ScheduleFields>, where = "schedule"): ScheduleDeclaration {
  const at = (key: string) => `${where}.${key}`;
  if (!SCHEDULE_ID_PATTERN.test(f.id)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected the id of ${where} to be 1-100 letters, digits, _ . - (starting alphanumeric), got ${JSON.stringify(f.id)}; a schedule: shorthand takes its task kind's or workflow's name, so give this one a schedules: entry with its own id`,
    );
  }
  if ((f.workflow === undefined) === (f.task === undefined)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected ${where} "${f.id}" to name exactly one of "workflow" or "task" to start`,
    );
  }
  const overlap = (f.overlap ?? "skip") as OverlapPolicy;
  if (!OVERLAP_POLICIES.includes(overlap)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "${at("overlap")}" to be one of ${OVERLAP_POLICIES.join(", ")}, got "${f.overlap}"`,
    );
  }
  const catchUp = (f.catchUp ?? "none") as CatchUpPolicy;
  if (!CATCH_UP_POLICIES.includes(catchUp)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "${at("catch_up")}" to be one of ${CATCH_UP_POLICIES.join(", ")}, got "${f.catchUp}"`,
    );
  }
  const timing: ScheduleTiming = {
    cron: f.cron.trim(),
    timezone: f.timezone ?? "UTC",
    jitterMs: f.jitter === undefined ? 0 : parseDuration(f.jitter, at("jitter")),
    startAt: f.start === undefined ? null : parseInstant(f.start, at("start")),
    endAt: f.end === undefined ? null : parseInstant(f.end, at("end")),
  };
  validateTiming(timing);
  const timeoutMs = f.timeout === undefined ? undefined : parseDuration(f.timeout, at("timeout"));
  return {
    id: f.id,
    target:
      f.workflow !== undefined ? { type: "workflow", name: f.workflow } : { type: "task", name: f.task as string },
    ...timing,
    input: f.input ?? null,
    overlap,
    catchUp,
    catchUpWindowMs:
      f.catchUpWindow === undefined
        ? DEFAULT_CATCH_UP_WINDOW_MS
        : parseDuration(f.catchUpWindow, at("catch_up_window")),
    runOptions: {
      ...(f.queue === undefined ? {} : { queue: f.queue }),
      ...(f.priority === undefined ? {} : { priority: f.priority }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    },
    ...(f.paused === undefined ? {} : { paused: f.paused }),
    ...(f.note === undefined ? {} : { note: f.note }),
  };
}
