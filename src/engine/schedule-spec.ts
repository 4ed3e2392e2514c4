import { createHash } from "node:crypto";
import { Cron } from "croner";
import { KilnError } from "../errors.ts";
import { parseDuration } from "./duration.ts";

/** What a fire does when the schedule's previous run is still live. */
export const OVERLAP_POLICIES = ["skip", "buffer_one", "allow", "cancel_other", "terminate_other"] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** Which fires missed while no scheduler ran (downtime) are started late. */
export const CATCH_UP_POLICIES = ["none", "latest", "all"] as const;
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];

/**
 * A fire is "on time" (not a catch-up) while it is at most this late: a scheduler tick that comes
 * a little late, or a server restart, still runs it under catch-up `none`.
 */
export const MISFIRE_GRACE_MS = 60_000;

/** The most fires one schedule starts in one catch-up (catch-up `all`). */
export const MAX_CATCH_UP_FIRES = 1000;

/** When a schedule fires, resolved: milliseconds and epoch times. */
export interface ScheduleTiming {
  /** A 5- or 6-field cron expression, an `@hourly`-style macro, or `@every <duration>`. */
  readonly cron: string;
  /** IANA time zone the cron expression is read in. */
  readonly timezone: string;
  /** Each run starts up to this long after its due time (the same offset on every server). */
  readonly jitterMs: number;
  /** No fire before this instant (epoch ms); also the anchor of `@every`. */
  readonly startAt: number | null;
  /** No fire after this instant. */
  readonly endAt: number | null;
}

const EVERY = /^@every\s+(.+)$/i;

/** The interval of an `@every 90s` expression, or undefined for cron expressions. */
export function everyIntervalMs(cron: string): number | undefined {
  const match = EVERY.exec(cron.trim());
  if (!match) return undefined;
  const ms = parseDuration(match[1] as string, "@every");
  if (ms < 1000) {
    throw new KilnError("INVALID_INPUT", `Expected "@every" to be at least 1s, got "${match[1]}"`);
  }
  return ms;
}

const crons = new Map<string, Cron>();

/** A paused croner instance per expression and zone (croner only computes; it never fires here). */
function cronOf(cron: string, timezone: string): Cron {
  const key = `${timezone}\u0000${cron}`;
  let found = crons.get(key);
  if (!found) {
    found = new Cron(cron, { timezone, paused: true });
    if (crons.size > 10_000) crons.clear();
    crons.set(key, found);
  }
  return found;
}

/** Throws INVALID_INPUT naming what to fix when the expression or zone is not usable. */
export function validateTiming(t: Readonly<ScheduleTiming>): void {
  if (!isTimeZone(t.timezone)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "timezone" to be an IANA time zone like "Europe/Berlin" or "UTC", got "${t.timezone}"`,
    );
  }
  const cron = t.cron.trim();
  if (everyIntervalMs(cron) === undefined) {
    const fields = cron.split(/\s+/).length;
    if (!cron.startsWith("@") && fields !== 5 && fields !== 6) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected "cron" to have 5 fields (minute hour day month weekday) or 6 (seconds first), got ${fields}: "${cron}"`,
      );
    }
    try {
      cronOf(cron, t.timezone);
    } catch (cause) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected "cron" to be a cron expression, @hourly/@daily/@weekly/@monthly/@yearly or "@every 90s", got "${cron}": ${(cause as Error).message}`,
        { cause },
      );
    }
  }
  if (!(Number.isFinite(t.jitterMs) && t.jitterMs >= 0)) {
    throw new KilnError("INVALID_INPUT", `Expected "jitter" to be a non-negative duration, got ${t.jitterMs}`);
  }
  if (t.startAt !== null && t.endAt !== null && t.endAt < t.startAt) {
    throw new KilnError("INVALID_INPUT", `Expected "end" to be after "start"`);
  }
}

/** Whether Intl knows this IANA zone name. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

/**
 * The first due time strictly after `after`, or null when the schedule has ended. Cron times are
 * computed by croner in the schedule's zone, which makes DST safe: a time in the skipped hour runs
 * once at the shift, a time in the repeated hour runs once (its first occurrence). `@every`
 * intervals count from `startAt`, else from `anchor` (the schedule's creation).
 */
export function nextDueAfter(t: Readonly<ScheduleTiming>, after: number, anchor: number): number | null {
  const from = t.startAt !== null && after < t.startAt ? t.startAt - 1 : after;
  let due: number | null;
  const every = everyIntervalMs(t.cron);
  if (every !== undefined) {
    const base = t.startAt ?? anchor;
    due = from < base ? base : base + (Math.floor((from - base) / every) + 1) * every;
  } else {
    due = cronOf(t.cron.trim(), t.timezone).nextRun(new Date(from))?.getTime() ?? null;
    // croner works in whole seconds; keep the result strictly after `from`.
    if (due !== null && due <= from)
      due =
        cronOf(t.cron.trim(), t.timezone)
          .nextRun(new Date(from + 1000))
          ?.getTime() ?? null;
  }
  if (due === null || (t.endAt !== null && due > t.endAt)) return null;
  return due;
}

/** The next `count` due times after `after`. */
export function nextDueTimes(t: Readonly<ScheduleTiming>, after: number, anchor: number, count: number): number[] {
  const out: number[] = [];
  let cursor = after;
  while (out.length < count) {
    const due = nextDueAfter(t, cursor, anchor);
    if (due === null) break;
    out.push(due);
    cursor = due;
  }
  return out;
}

/**
 * The schedule's delay of a run after its due time: derived from the schedule id and the due
 * time, so every server (and a restart) computes the same start time for the same fire.
 */
export function jitterOffsetMs(scheduleId: string, due: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  const digest = createHash("sha256").update(`${scheduleId}\u0000${due}`).digest();
  return digest.readUInt32BE(0) % (Math.floor(jitterMs) + 1);
}

/** The values a schedule's input may name as `${schedule.…}`. */
export function scheduleValues(scheduleId: string, due: number, timezone: string): Record<string, string | number> {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: timezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(new Date(due));
  return { time: new Date(due).toISOString(), timestamp: due, date: parts, id: scheduleId };
}

const PLACEHOLDER = /\$\{schedule\.(time|timestamp|date|id)\}/g;
const WHOLE = /^\$\{schedule\.(time|timestamp|date|id)\}$/;

/**
 * The input of a fire: every string value of the schedule's input with `${schedule.time}` (ISO
 * due time), `${schedule.timestamp}` (epoch ms), `${schedule.date}` (YYYY-MM-DD in the schedule's
 * zone) and `${schedule.id}` replaced. A string that is only `${schedule.timestamp}` becomes a number.
 */
export function renderScheduleInput(input: unknown, values: Readonly<Record<string, string | number>>): unknown {
  if (typeof input === "string") {
    const whole = WHOLE.exec(input);
    if (whole) return values[whole[1] as string];
    return input.replace(PLACEHOLDER, (_, key: string) => String(values[key]));
  }
  if (Array.isArray(input)) return input.map((v) => renderScheduleInput(v, values));
  if (input !== null && typeof input === "object") {
    return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, renderScheduleInput(v, values)]));
  }
  return input;
}

/** The idempotency key of a fire: the same schedule and due time always make the same key. */
export function fireIdempotencyKey(scheduleId: string, due: number): string {
  return `schedule:${scheduleId}:${new Date(due).toISOString()}`;
}
