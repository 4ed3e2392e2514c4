import { KilnError } from "../errors.ts";
import type { RunType } from "../engine/run.ts";
import {
  CATCH_UP_POLICIES,
  type CatchUpPolicy,
  fireIdempotencyKey,
  jitterOffsetMs,
  MAX_CATCH_UP_FIRES,
  MISFIRE_GRACE_MS,
  nextDueAfter,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  renderScheduleInput,
  scheduleValues,
  validateTiming,
} from "../engine/schedule-spec.ts";
import { DEFAULT_CATCH_UP_WINDOW_MS, SCHEDULE_ID_PATTERN } from "../engine/schedule-declaration.ts";
import { isTerminal, type RunStatus } from "../engine/status.ts";
import type {
  FiredSchedule,
  FireOutcome,
  PutScheduleParams,
  Schedule,
  ScheduleFire,
  ScheduleSource,
  ScheduleStore,
} from "./schedule-store.ts";
import { expectName, expectNamespaceName } from "../engine/names.ts";
import type { SqlDriver } from "./sql-driver.ts";
import { SqlKernel, type Tx, WORK_SELECT, type WorkRow } from "./sql-kernel.ts";
import { cancelRuns, descendants } from "./sql-transitions.ts";
import type { StoreOptions } from "./store.ts";

/** Fire rows kept per schedule (its "last results"). */
const FIRES_KEPT = 100;

interface ScheduleRow {
  namespace: string;
  id: string;
  target_type: string;
  target_name: string;
  cron: string;
  timezone: string;
  input: string | null;
  run_options: string;
  jitter_ms: number | string;
  start_at: number | string | null;
  end_at: number | string | null;
  overlap: string;
  catch_up: string;
  catch_up_window_ms: number | string;
  paused: number;
  note: string | null;
  source: string;
  next_due_at: number | string | null;
  last_due_at: number | string | null;
  last_run_id: string | null;
  buffered_due_at: number | string | null;
  created_at: number | string;
  updated_at: number | string;
}

interface FireRow {
  namespace: string;
  schedule_id: string;
  due_at: number | string;
  fired_at: number | string;
  outcome: string;
  run_id: string | null;
  reason: string | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toSchedule(r: ScheduleRow): Schedule {
  return {
    namespace: r.namespace,
    id: r.id,
    target: { type: r.target_type as RunType, name: r.target_name },
    cron: r.cron,
    timezone: r.timezone,
    input: r.input === null ? null : JSON.parse(r.input),
    runOptions: JSON.parse(r.run_options),
    jitterMs: Number(r.jitter_ms),
    startAt: num(r.start_at),
    endAt: num(r.end_at),
    overlap: r.overlap as OverlapPolicy,
    catchUp: r.catch_up as CatchUpPolicy,
    catchUpWindowMs: Number(r.catch_up_window_ms),
    paused: Number(r.paused) === 1,
    note: r.note,
    source: r.source as ScheduleSource,
    nextDueAt: num(r.next_due_at),
    lastDueAt: num(r.last_due_at),
    lastRunId: r.last_run_id,
    bufferedDueAt: num(r.buffered_due_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toFire(r: FireRow): ScheduleFire {
  return {
    namespace: r.namespace,
    scheduleId: r.schedule_id,
    dueAt: Number(r.due_at),
    firedAt: Number(r.fired_at),
    outcome: r.outcome as FireOutcome,
    runId: r.run_id,
    reason: r.reason,
  };
}

function notFound(namespace: string, id: string): KilnError {
  return new KilnError(
    "SCHEDULE_NOT_FOUND",
    `No schedule "${id}" in namespace "${namespace}"; see kiln schedules list`,
  );
}

/** The timing fields whose change moves the next due time. */
function timingKey(s: Pick<Schedule, "cron" | "timezone" | "startAt" | "endAt">): string {
  return JSON.stringify([s.cron.trim(), s.timezone, s.startAt, s.endAt]);
}

/**
 * Schedules over any SqlDriver (ScheduleStore). The fire path is one transaction per batch: lock
 * the due schedule rows (SKIP LOCKED on PostgreSQL, so two servers split the work), decide every
 * due time against the schedule's last run, insert the runs with their deterministic idempotency
 * keys, record the fires and advance `next_due_at`. Either all of that commits or none of it.
 */
export class SqlSchedules implements ScheduleStore {
  readonly #k: SqlKernel;

  constructor(driver: SqlDriver, options: Readonly<StoreOptions> = {}) {
    this.#k = new SqlKernel(driver, options);
  }

  async putSchedule(p: Readonly<PutScheduleParams>): Promise<{ schedule: Schedule; created: boolean }> {
    expectNamespaceName(p.namespace);
    expectName("id", p.id, SCHEDULE_ID_PATTERN, "1-100 letters, digits, _ . - (starting alphanumeric)");
    if (p.target.type !== "task" && p.target.type !== "workflow") {
      throw new KilnError("INVALID_INPUT", `Expected the schedule's target type to be "task" or "workflow"`);
    }
    if (typeof p.target.name !== "string" || p.target.name === "") {
      throw new KilnError("INVALID_INPUT", `Expected schedule "${p.id}" to name a task kind or workflow to start`);
    }
    validateTiming(p);
    const overlap = p.overlap ?? "skip";
    if (!OVERLAP_POLICIES.includes(overlap)) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected "overlap" to be one of ${OVERLAP_POLICIES.join(", ")}, got "${overlap}"`,
      );
    }
    const catchUp = p.catchUp ?? "none";
    if (!CATCH_UP_POLICIES.includes(catchUp)) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected "catch_up" to be one of ${CATCH_UP_POLICIES.join(", ")}, got "${catchUp}"`,
      );
    }
    return this.#k.tx(async (tx) => {
      const [old] = await tx.db.all<ScheduleRow>(
        `SELECT * FROM schedules WHERE namespace = ? AND id = ?${this.#k.forUpdate}`,
        [p.namespace, p.id],
      );
      const previous = old ? toSchedule(old) : undefined;
      const paused = p.paused ?? previous?.paused ?? false;
      // An unchanged timing keeps its cursor: a config reload must not skip or repeat a fire.
      const keep = previous !== undefined && timingKey(previous) === timingKey(p) && !(previous.paused && !paused);
      const anchor = previous?.createdAt ?? tx.now;
      const nextDueAt = keep ? previous.nextDueAt : nextDueAfter(p, tx.now, anchor);
      const values = [
        p.target.type,
        p.target.name,
        p.cron.trim(),
        p.timezone,
        this.#k.encode(p.input ?? null, `input of schedule "${p.id}"`),
        JSON.stringify(p.runOptions ?? {}),
        Math.round(p.jitterMs),
        p.startAt,
        p.endAt,
        overlap,
        catchUp,
        Math.round(p.catchUpWindowMs ?? DEFAULT_CATCH_UP_WINDOW_MS),
        paused ? 1 : 0,
        p.note === undefined ? (previous?.note ?? null) : p.note,
        p.source ?? "api",
        nextDueAt,
        tx.now,
      ];
      if (old) {
        await tx.db.run(
          `UPDATE schedules SET target_type = ?, target_name = ?, cron = ?, timezone = ?, input = ?, run_options = ?,
            jitter_ms = ?, start_at = ?, end_at = ?, overlap = ?, catch_up = ?, catch_up_window_ms = ?, paused = ?,
            note = ?, source = ?, next_due_at = ?, updated_at = ? WHERE namespace = ? AND id = ?`,
          [...values, p.namespace, p.id],
        );
      } else {
        await tx.db.run(
          `INSERT INTO schedules (target_type, target_name, cron, timezone, input, run_options, jitter_ms, start_at,
            end_at, overlap, catch_up, catch_up_window_ms, paused, note, source, next_due_at, updated_at, namespace,
            id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [...values, p.namespace, p.id, tx.now],
        );
      }
      return { schedule: await this.#read(tx, p.namespace, p.id), created: !old };
    });
  }

  async getSchedule(p: Readonly<{ namespace: string; id: string }>): Promise<Schedule | undefined> {
    const [row] = await this.#k.driver.all<ScheduleRow>("SELECT * FROM schedules WHERE namespace = ? AND id = ?", [
      p.namespace,
      p.id,
    ]);
    return row ? toSchedule(row) : undefined;
  }

  async listSchedules(p: Readonly<{ namespace?: string; source?: ScheduleSource }>): Promise<Schedule[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (p.namespace !== undefined) {
      where.push("namespace = ?");
      params.push(p.namespace);
    }
    if (p.source !== undefined) {
      where.push("source = ?");
      params.push(p.source);
    }
    const rows = await this.#k.driver.all<ScheduleRow>(
      `SELECT * FROM schedules${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY namespace, id`,
      params,
    );
    return rows.map(toSchedule);
  }

  async deleteSchedule(p: Readonly<{ namespace: string; id: string }>): Promise<boolean> {
    return this.#k.tx(async (tx) => {
      await tx.db.run("DELETE FROM schedule_fires WHERE namespace = ? AND schedule_id = ?", [p.namespace, p.id]);
      return (await tx.db.run("DELETE FROM schedules WHERE namespace = ? AND id = ?", [p.namespace, p.id])) > 0;
    });
  }

  async setSchedulePaused(
    p: Readonly<{ namespace: string; id: string; paused: boolean; note?: string | null }>,
  ): Promise<Schedule> {
    return this.#k.tx(async (tx) => {
      const s = await this.#read(tx, p.namespace, p.id, true);
      // Resuming starts from now: the fires of the paused time are not caught up.
      const nextDueAt = p.paused ? s.nextDueAt : nextDueAfter(s, tx.now, s.createdAt);
      await tx.db.run(
        "UPDATE schedules SET paused = ?, note = ?, next_due_at = ?, updated_at = ? WHERE namespace = ? AND id = ?",
        [p.paused ? 1 : 0, p.note === undefined ? s.note : p.note, nextDueAt, tx.now, p.namespace, p.id],
      );
      return this.#read(tx, p.namespace, p.id);
    });
  }

  async fireDueSchedules(p: Readonly<{ limit?: number }>): Promise<FiredSchedule[]> {
    return this.#k.tx(async (tx) => {
      const rows = await tx.db.all<ScheduleRow>(
        `SELECT * FROM schedules WHERE paused = 0 AND ((next_due_at IS NOT NULL AND next_due_at <= ?)
          OR buffered_due_at IS NOT NULL) ORDER BY next_due_at LIMIT ?${this.#k.skipLocked}`,
        [tx.now, p.limit ?? 500],
      );
      const fired: FiredSchedule[] = [];
      for (const row of rows) fired.push(...(await this.#handle(tx, toSchedule(row))));
      return fired;
    });
  }

  async triggerSchedule(p: Readonly<{ namespace: string; id: string }>): Promise<ScheduleFire> {
    return this.#k.tx(async (tx) => {
      const s = await this.#read(tx, p.namespace, p.id, true);
      const key = `schedule:${s.id}:trigger:${new Date(tx.now).toISOString()}`;
      // A manual trigger means "now": no jitter.
      const runId = await this.#startRun(tx, { ...s, jitterMs: 0 }, tx.now, key);
      await tx.db.run("UPDATE schedules SET last_run_id = ?, updated_at = ? WHERE namespace = ? AND id = ?", [
        runId,
        tx.now,
        s.namespace,
        s.id,
      ]);
      const fire = this.#fire(s, tx.now, tx.now, "started", runId, "triggered by hand");
      await this.#record(tx, s, [fire]);
      return fire;
    });
  }

  async backfillSchedule(
    p: Readonly<{ namespace: string; id: string; from: number; to: number }>,
  ): Promise<ScheduleFire[]> {
    return this.#k.tx(async (tx) => {
      const s = await this.#read(tx, p.namespace, p.id, true);
      const fires: ScheduleFire[] = [];
      for (let due = nextDueAfter(s, p.from - 1, s.createdAt); due !== null && due <= p.to; ) {
        if (fires.length >= MAX_CATCH_UP_FIRES) {
          throw new KilnError(
            "INVALID_INPUT",
            `A backfill starts at most ${MAX_CATCH_UP_FIRES} runs; narrow the range (--from/--to)`,
          );
        }
        const runId = await this.#startRun(tx, s, due, fireIdempotencyKey(s.id, due));
        fires.push(this.#fire(s, due, tx.now, "started", runId, "backfill"));
        due = nextDueAfter(s, due, s.createdAt);
      }
      await this.#record(tx, s, fires);
      return fires;
    });
  }

  async listScheduleFires(p: Readonly<{ namespace: string; id: string; limit?: number }>): Promise<ScheduleFire[]> {
    const rows = await this.#k.driver.all<FireRow>(
      "SELECT * FROM schedule_fires WHERE namespace = ? AND schedule_id = ? ORDER BY due_at DESC LIMIT ?",
      [p.namespace, p.id, p.limit ?? 10],
    );
    return rows.map(toFire);
  }

  async getNextScheduleDueAt(): Promise<number | null> {
    // Buffered fires wait for a run to end, which no timer announces: the scheduler's regular
    // look (at most a second apart) finds them.
    const [row] = await this.#k.driver.all<{ t: number | string | null }>(
      "SELECT MIN(next_due_at) AS t FROM schedules WHERE paused = 0",
    );
    return num(row?.t ?? null);
  }

  // ── the fire path ─────────────────────────────────────────────────────────────────────────

  /** Handles one locked schedule: its buffered fire, then every due time that has come. */
  async #handle(tx: Tx, s: Schedule): Promise<FiredSchedule[]> {
    const fires: FiredSchedule[] = [];
    let lastRunId = s.lastRunId;
    let buffered = s.bufferedDueAt;
    // `allow` never looks at the last run (one statement less per fire), unless a fire is buffered.
    let live = s.overlap === "allow" && buffered === null ? undefined : await this.#liveRun(tx, lastRunId);
    if (buffered !== null && live === undefined) {
      lastRunId = await this.#startRun(tx, s, buffered, fireIdempotencyKey(s.id, buffered));
      fires.push(this.#fire(s, buffered, tx.now, "started", lastRunId, "buffered fire"));
      live = await this.#liveRun(tx, lastRunId);
      buffered = null;
    }
    const { dues, missed } = this.#dueTimes(s, tx.now);
    for (const due of missed) fires.push(this.#fire(s, due, tx.now, "missed", null, `catch-up "${s.catchUp}"`));
    for (const due of dues) {
      if (live !== undefined && s.overlap !== "allow") {
        if (s.overlap === "skip") {
          fires.push(this.#fire(s, due, tx.now, "skipped", null, `run ${live.id} is still ${live.status}`));
          continue;
        }
        if (s.overlap === "cancel_other" || s.overlap === "terminate_other") {
          const family = await descendants(this.#k, tx, [live.id]);
          await cancelRuns(this.#k, tx, [live, ...family], `schedule "${s.id}" fired again (overlap ${s.overlap})`);
        }
        // cancel_other: a run nobody held is cancelled at once, so the new one starts now.
        if (s.overlap === "cancel_other") live = await this.#liveRun(tx, live.id);
        if (live !== undefined && s.overlap !== "terminate_other") {
          // buffer_one, cancel_other: one fire waits for the live run to end; later ones are dropped.
          if (buffered === null) {
            buffered = due;
            fires.push(this.#fire(s, due, tx.now, "buffered", null, `waits for run ${live.id}`));
          } else {
            fires.push(this.#fire(s, due, tx.now, "skipped", null, "a fire is already buffered"));
          }
          continue;
        }
      }
      lastRunId = await this.#startRun(tx, s, due, fireIdempotencyKey(s.id, due));
      fires.push(this.#fire(s, due, tx.now, "started", lastRunId, null));
      if (s.overlap !== "allow") live = await this.#liveRun(tx, lastRunId);
    }
    const handled = [...missed, ...dues];
    const lastDue = handled.length > 0 ? Math.max(...handled) : s.lastDueAt;
    const nextDueAt =
      s.nextDueAt !== null && s.nextDueAt <= tx.now ? nextDueAfter(s, tx.now, s.createdAt) : s.nextDueAt;
    await tx.db.run(
      `UPDATE schedules SET next_due_at = ?, last_due_at = ?, last_run_id = ?, buffered_due_at = ?, updated_at = ?
        WHERE namespace = ? AND id = ?`,
      [nextDueAt, lastDue, lastRunId, buffered, tx.now, s.namespace, s.id],
    );
    await this.#record(tx, s, fires);
    return fires;
  }

  /**
   * The due times in (last handled, now]: those to fire and those missed (older than the
   * catch-up allows). Counted from `next_due_at`, the durable cursor, so a restart loses none.
   */
  #dueTimes(s: Schedule, now: number): { dues: number[]; missed: number[] } {
    if (s.nextDueAt === null || s.nextDueAt > now) return { dues: [], missed: [] };
    const reach = s.catchUp === "none" ? MISFIRE_GRACE_MS : Math.max(s.catchUpWindowMs, MISFIRE_GRACE_MS);
    const all: number[] = [];
    let skippedCount = 0;
    // Due times older than the reach are not enumerated one by one (an outage may span millions).
    let due: number | null = s.nextDueAt;
    if (due < now - reach) {
      skippedCount = 1;
      due = nextDueAfter(s, now - reach - 1, s.createdAt);
    }
    while (due !== null && due <= now && all.length < MAX_CATCH_UP_FIRES) {
      all.push(due);
      due = nextDueAfter(s, due, s.createdAt);
    }
    const onTime = all.filter((d) => now - d <= MISFIRE_GRACE_MS);
    const late = all.filter((d) => now - d > MISFIRE_GRACE_MS);
    let dues: number[];
    let missed: number[];
    if (s.catchUp === "all") {
      dues = all;
      missed = [];
    } else if (s.catchUp === "latest") {
      dues = all.length > 0 ? [all.at(-1) as number] : [];
      missed = all.slice(0, -1);
    } else {
      dues = onTime;
      missed = late;
    }
    // Record one "missed" row for the fires past the reach (the first of them), not each.
    if (skippedCount > 0) missed = [s.nextDueAt, ...missed];
    // Only the latest missed fire is recorded: the history is for people, not an audit of gaps.
    return { dues, missed: missed.length > 0 ? [missed.at(-1) as number] : [] };
  }

  /** The schedule's last run while it is live (not terminal). */
  async #liveRun(tx: Tx, runId: string | null): Promise<WorkRow | undefined> {
    if (runId === null) return undefined;
    const [row] = await tx.db.all<WorkRow>(`SELECT ${WORK_SELECT} FROM runs WHERE id = ?${this.#k.forUpdate}`, [runId]);
    return row && !isTerminal(row.status as RunStatus) ? row : undefined;
  }

  /** Starts (or finds, by its key) the run of one fire; returns its id. */
  async #startRun(tx: Tx, s: Schedule, due: number, key: string): Promise<string> {
    const values = scheduleValues(s.id, due, s.timezone);
    const row = this.#k.newRunRow(
      {
        namespace: s.namespace,
        type: s.target.type,
        name: s.target.name,
        input: renderScheduleInput(s.input, values),
        idempotencyKey: key,
        availableAt: Math.max(tx.now, due + jitterOffsetMs(s.id, due, s.jitterMs)),
        metadata: { schedule: s.id, scheduledAt: values.time },
        ...(s.runOptions.queue === undefined ? {} : { queue: s.runOptions.queue }),
        ...(s.runOptions.priority === undefined ? {} : { priority: s.runOptions.priority }),
        ...(s.runOptions.timeoutMs === undefined ? {} : { timeoutMs: s.runOptions.timeoutMs }),
      },
      tx.now,
    );
    const [result] = await this.#k.insertRuns(tx, [row]);
    return result?.run.id ?? row.id;
  }

  #fire(
    s: Schedule,
    dueAt: number,
    firedAt: number,
    outcome: FireOutcome,
    runId: string | null,
    reason: string | null,
  ): FiredSchedule {
    return { namespace: s.namespace, scheduleId: s.id, dueAt, firedAt, outcome, runId, reason, lagMs: firedAt - dueAt };
  }

  /** Writes fire rows (a due time already recorded keeps its first row) and trims the history. */
  async #record(tx: Tx, s: Schedule, fires: readonly ScheduleFire[]): Promise<void> {
    for (const f of fires) {
      await tx.db.run(
        `INSERT INTO schedule_fires (namespace, schedule_id, due_at, fired_at, outcome, run_id, reason)
          VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [f.namespace, f.scheduleId, f.dueAt, f.firedAt, f.outcome, f.runId, f.reason],
      );
    }
    if (fires.length === 0) return;
    await tx.db.run(
      `DELETE FROM schedule_fires WHERE namespace = ? AND schedule_id = ? AND due_at < COALESCE((SELECT due_at
        FROM schedule_fires WHERE namespace = ? AND schedule_id = ? ORDER BY due_at DESC LIMIT 1 OFFSET ?), -1)`,
      [s.namespace, s.id, s.namespace, s.id, FIRES_KEPT - 1],
    );
  }

  async #read(tx: Tx, namespace: string, id: string, lock = false): Promise<Schedule> {
    const [row] = await tx.db.all<ScheduleRow>(
      `SELECT * FROM schedules WHERE namespace = ? AND id = ?${lock ? this.#k.forUpdate : ""}`,
      [namespace, id],
    );
    if (!row) throw notFound(namespace, id);
    return toSchedule(row);
  }
}
