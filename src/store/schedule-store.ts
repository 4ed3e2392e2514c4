import type { RunType } from "../engine/run.ts";
import type { CatchUpPolicy, OverlapPolicy, ScheduleTiming } from "../engine/schedule-spec.ts";

/**
 * Where a schedule was declared: config schedules are replaced on every config load, flow
 * schedules (a flow's `trigger:`) on every deploy of the flow.
 */
export type ScheduleSource = "api" | "config" | "flow";

/** How a schedule's runs are started (beyond name and input). */
export interface ScheduleRunOptions {
  readonly queue?: string;
  readonly priority?: number;
  readonly timeoutMs?: number;
}

/** A schedule: starts a run of `target` at each due time of its cron expression. */
export interface Schedule extends ScheduleTiming {
  readonly namespace: string;
  /** The schedule's name, unique in its namespace. */
  readonly id: string;
  readonly target: { readonly type: RunType; readonly name: string };
  readonly input: unknown;
  readonly runOptions: ScheduleRunOptions;
  readonly overlap: OverlapPolicy;
  readonly catchUp: CatchUpPolicy;
  /** How far back catch-up `latest`/`all` reaches after downtime. */
  readonly catchUpWindowMs: number;
  readonly paused: boolean;
  /** Why it is paused (or any note). */
  readonly note: string | null;
  readonly source: ScheduleSource;
  /** The next due time the scheduler will handle (null: ended). Stored, so restarts lose nothing. */
  readonly nextDueAt: number | null;
  /** The latest due time handled. */
  readonly lastDueAt: number | null;
  /** The run the latest fire started (overlap policies look at it). */
  readonly lastRunId: string | null;
  /** A fire held back by `buffer_one` / `cancel_other` until the live run ends. */
  readonly bufferedDueAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What happened to one due time. */
export type FireOutcome = "started" | "skipped" | "buffered" | "missed";

/** One handled due time (the "last results" of a schedule). */
export interface ScheduleFire {
  readonly namespace: string;
  readonly scheduleId: string;
  readonly dueAt: number;
  readonly firedAt: number;
  readonly outcome: FireOutcome;
  readonly runId: string | null;
  /** Why it was skipped, buffered or missed. */
  readonly reason: string | null;
}

/** Params of putSchedule: the declaration; the store keeps the runtime fields. */
export interface PutScheduleParams extends ScheduleTiming {
  readonly namespace: string;
  readonly id: string;
  readonly target: { readonly type: RunType; readonly name: string };
  readonly input?: unknown;
  readonly runOptions?: ScheduleRunOptions;
  readonly overlap?: OverlapPolicy;
  readonly catchUp?: CatchUpPolicy;
  readonly catchUpWindowMs?: number;
  readonly paused?: boolean;
  readonly note?: string | null;
  readonly source?: ScheduleSource;
}

/** A fire as the scheduler reports it (lag: due time → run created). */
export interface FiredSchedule extends ScheduleFire {
  readonly lagMs: number;
}

/** Schedule persistence (sql-schedules.ts), part of the Store. */
export interface ScheduleStore {
  /**
   * Creates or replaces a schedule's declaration. A changed timing recomputes the next due time
   * from now; an unchanged one keeps it (a config reload neither repeats nor loses a fire).
   */
  putSchedule(p: Readonly<PutScheduleParams>): Promise<{ readonly schedule: Schedule; readonly created: boolean }>;
  getSchedule(p: Readonly<{ namespace: string; id: string }>): Promise<Schedule | undefined>;
  /** Schedules of a namespace (all namespaces when omitted), by id. */
  listSchedules(p: Readonly<{ namespace?: string; source?: ScheduleSource }>): Promise<Schedule[]>;
  /** Deletes a schedule and its fire history; false when there was none. */
  deleteSchedule(p: Readonly<{ namespace: string; id: string }>): Promise<boolean>;
  /** Pauses (with a note) or resumes. Resuming recomputes the next due time from now. */
  setSchedulePaused(
    p: Readonly<{ namespace: string; id: string; paused: boolean; note?: string | null }>,
  ): Promise<Schedule>;
  /**
   * The scheduler's tick: handles every due time that has come for unpaused schedules (overlap,
   * catch-up, buffered fires), starting each run with the idempotency key of its schedule and due
   * time and advancing the stored next due time in the same transaction. Safe from many servers
   * at once: rows are locked (SKIP LOCKED) and keys are unique, so no fire starts twice.
   */
  fireDueSchedules(p: Readonly<{ limit?: number }>): Promise<FiredSchedule[]>;
  /** Starts a run of the schedule now (manual trigger), whatever its policies say. */
  triggerSchedule(p: Readonly<{ namespace: string; id: string }>): Promise<ScheduleFire>;
  /** Starts the runs of every due time in [from, to] (idempotent: a fire that ran is not repeated). */
  backfillSchedule(p: Readonly<{ namespace: string; id: string; from: number; to: number }>): Promise<ScheduleFire[]>;
  /** The latest handled due times of a schedule, newest first. */
  listScheduleFires(p: Readonly<{ namespace: string; id: string; limit?: number }>): Promise<ScheduleFire[]>;
  /** The earliest next due time of unpaused schedules, for the scheduler's timer. */
  getNextScheduleDueAt(): Promise<number | null>;
}
