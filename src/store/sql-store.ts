import { type PurgeFinishedRunsParams, type PurgeResult, purgeFinishedRuns } from "./sql-retention.ts";
import { type AuditStore, SqlAuditStore } from "./audit-store.ts";
import { replaceNul } from "../engine/free-text.ts";
import { KilnError } from "../errors.ts";
import { newId } from "../engine/ids.ts";
import type { Run } from "../engine/run.ts";
import { isTerminal, type RunStatus } from "../engine/status.ts";
import type { Step } from "../engine/step.ts";
import { rowsSource, type SqlDriver, type SqlScalar } from "./sql-driver.ts";
import { claimRuns } from "./sql-claim.ts";
import { type HandoffOffer, LocalHandoff } from "./local-handoff.ts";
import { startRunsHandedOver } from "./sql-start-claim.ts";
import { SqlControl } from "./sql-control.ts";
import { SqlWebhooks } from "./sql-webhooks.ts";
import { SqlAccountStore } from "./account-store.ts";
import type { ScheduleStore } from "./schedule-store.ts";
import { SqlSchedules } from "./sql-schedules.ts";
import {
  RUN_ENDS_CHANNEL,
  RUNS_CHANNEL,
  SETTLED,
  SqlKernel,
  TERMINAL,
  WORK_SELECT,
  type WorkRow,
} from "./sql-kernel.ts";
import {
  type LogRow,
  type QueueRow,
  type RunRow,
  rowToLog,
  rowToQueue,
  rowToRun,
  rowToStep,
  type StepRow,
} from "./sql-rows.ts";
import {
  cancelRuns,
  closeWaits,
  compensableRuns,
  descendants,
  requeueRun,
  settleTerminal,
  wakeRuns,
} from "./sql-transitions.ts";
import { deleteWorkflow } from "./sql-workflow-registry.ts";
import { listEvents } from "./sql-events.ts";
import type { DeleteWorkflowParams, DeleteWorkflowResult } from "./workflow-registry.ts";
import { awaitEvent, extendLeases, finishRuns, saveSteps, startChildRun, updateRuns } from "./sql-worker-writes.ts";
import type {
  AwaitEventParams,
  ClaimRunsParams,
  ClaimRunsResult,
  EventPage,
  ListEventsParams,
  ExtendLeasesParams,
  ExtendLeasesResult,
  FinishRunParams,
  ListRunsParams,
  LogEntry,
  LogEntryInput,
  QueueSettings,
  RunPage,
  SaveStepParams,
  SendEventParams,
  SendEventResult,
  StartChildRunParams,
  StartRunParams,
  StartRunResult,
  Store,
  StoreNotification,
  SubscribeRunEndsParams,
  StoreOptions,
  SweepResult,
  UpdateRunParams,
  WriteResult,
} from "./store.ts";

export { RUNS_CHANNEL } from "./sql-kernel.ts";

const RETRYABLE: ReadonlySet<RunStatus> = new Set<RunStatus>(["failed", "cancelled", "timed_out", "compensated"]);
const DEFAULT_EVENT_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * The Store over any SqlDriver: all of Kiln's persistence logic, written once for SQLite and
 * PostgreSQL. Its parts: sql-kernel.ts (plumbing and row primitives), sql-transitions.ts
 * (wake-ups, parents, cancellation), sql-claim.ts (claimRuns), sql-worker-writes.ts (fenced
 * writes); the control plane is sql-control.ts. Fenced writes follow one pattern — read and lock
 * the runs concerned, decide every item in memory against the locked rows, then write the
 * decisions back with set-based statements — so a batch costs a handful of statements whatever
 * its size.
 */
export class SqlStore extends SqlControl implements Store {
  readonly dialect: "sqlite" | "postgres";
  protected readonly driver: SqlDriver;
  readonly audit: AuditStore;
  readonly #k: SqlKernel;
  /** Idle workers of this process that take runs as they start (start+claim fusion). */
  readonly #handoff = new LocalHandoff();
  readonly webhooks: SqlWebhooks;
  readonly accounts: SqlAccountStore;
  readonly #schedules: SqlSchedules;

  protected constructor(driver: SqlDriver, options: Readonly<StoreOptions> = {}) {
    // The control plane (namespaces, tokens, secrets, deployments, workers) lives in sql-control.ts.
    super(driver, options.clock ?? Date.now);
    this.driver = driver;
    this.dialect = driver.dialect;
    this.#k = new SqlKernel(driver, options);
    this.#schedules = new SqlSchedules(driver, options);
    this.webhooks = new SqlWebhooks(driver, options.clock ?? Date.now);
    this.audit = new SqlAuditStore(driver, options.clock ?? Date.now);
    this.accounts = new SqlAccountStore(driver, options.clock ?? Date.now);
  }

  /** The SQL driver, for maintenance tools that work on whole tables (`kiln db migrate`). */
  maintenanceDriver(): SqlDriver {
    return this.driver;
  }

  async startRun(p: Readonly<StartRunParams>): Promise<StartRunResult> {
    const [result] = await this.startRuns({ runs: [p] });
    return result as StartRunResult;
  }

  /** Registers an idle worker of this process to be handed runs as they start (LocalHandoff). */
  offerHandoff(offer: HandoffOffer): () => void {
    return this.#handoff.offer(offer);
  }

  async startRuns(p: Readonly<{ runs: readonly StartRunParams[] }>): Promise<StartRunResult[]> {
    if (p.runs.length === 0) return [];
    const fresh = p.runs.every((r) => r.idempotencyKey === undefined && r.id === undefined);
    if (fresh && this.#handoff.open) return startRunsHandedOver(this.#k, this.#handoff, p.runs);
    return this.#k.tx(async (tx) => {
      const rows = p.runs.map((r) => this.#k.newRunRow(r, tx.now));
      if (rows.some((r) => r.idempotency_key !== null) || p.runs.some((r) => r.id !== undefined)) {
        return this.#k.insertRuns(tx, rows);
      }
      // Fresh ids and no idempotency keys: every row is created, nothing is decided on the
      // result, so COMMIT (and the notifications) go with the INSERT.
      for (const row of rows) {
        if (row.available_at !== null && row.available_at <= tx.now) this.#k.markReady(tx, row.namespace, row.queue);
      }
      const inserting = this.#k.insertRuns(tx, rows);
      this.#k.commit(tx);
      return inserting;
    });
  }

  async getRun(p: Readonly<{ namespace: string; id: string }>): Promise<Run | undefined> {
    const [row] = await this.#k.driver.all<RunRow>("SELECT * FROM runs WHERE id = ? AND namespace = ?", [
      p.id,
      p.namespace,
    ]);
    return row ? rowToRun(row) : undefined;
  }

  async listRuns(p: Readonly<ListRunsParams>): Promise<RunPage> {
    const where = ["namespace = ?"];
    const params: (SqlScalar | readonly SqlScalar[])[] = [p.namespace];
    if (p.status !== undefined) {
      const statuses: readonly RunStatus[] = typeof p.status === "string" ? [p.status as RunStatus] : p.status;
      const list = this.#k.list(statuses);
      where.push(`status ${list.sql}`);
      params.push(...list.params);
      // Point the planner at the index that holds these statuses (see runs_list_status).
      if (statuses.every((s) => s !== "running" && s !== "completed")) {
        where.push("status NOT IN ('running', 'completed')");
      } else if (statuses.every((s) => s === "running")) {
        where.push("lease_owner IS NOT NULL");
      }
    }
    const filters: [string, string | number | undefined][] = [
      ["name = ?", p.name],
      ["type = ?", p.type],
      ["parent_run_id = ?", p.parentRunId],
      ["idempotency_key = ?", p.idempotencyKey],
      ["created_at >= ?", p.createdAfter],
      ["created_at < ?", p.createdBefore],
      ["id < ?", p.cursor],
    ];
    for (const [sql, value] of filters) {
      if (value === undefined) continue;
      where.push(sql);
      params.push(value);
    }
    const limit = Math.min(Math.max(Math.floor(p.limit ?? 50), 1), 1000);
    const rows = await this.#k.driver.all<RunRow>(
      `SELECT * FROM runs WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const page = rows.slice(0, limit);
    return {
      runs: page.map(rowToRun),
      nextCursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
    };
  }

  async listSteps(p: Readonly<{ runId: string }>): Promise<Step[]> {
    const rows = await this.#k.driver.all<StepRow>("SELECT * FROM steps WHERE run_id = ? ORDER BY seq, name", [
      p.runId,
    ]);
    return rows.map(rowToStep);
  }

  listEvents(p: Readonly<ListEventsParams>): Promise<EventPage> {
    return listEvents(this.#k, p);
  }

  deleteWorkflow(p: Readonly<DeleteWorkflowParams>): Promise<DeleteWorkflowResult> {
    return deleteWorkflow(this.#k, p);
  }

  async cancelRun(p: Readonly<{ namespace: string; id: string; reason?: string }>): Promise<Run> {
    return this.#k.tx(async (tx) => {
      const row = await this.#k.lockRunOf(tx, p.namespace, p.id);
      if (isTerminal(row.status as RunStatus)) {
        throw new KilnError(
          "INVALID_STATE_TRANSITION",
          `Run ${p.id} is already ${row.status}; only a live run can be cancelled`,
        );
      }
      const family = await descendants(this.#k, tx, [row.id]);
      await cancelRuns(this.#k, tx, [row, ...family], p.reason);
      return this.#k.readRun(tx, row.id);
    });
  }

  async retryRun(p: Readonly<{ namespace: string; id: string; fromStep?: string }>): Promise<Run> {
    return this.#k.tx(async (tx) => {
      const row = await this.#k.lockRunOf(tx, p.namespace, p.id);
      if (!RETRYABLE.has(row.status as RunStatus)) {
        throw new KilnError(
          "INVALID_STATE_TRANSITION",
          `Run ${p.id} is ${row.status}; only failed, cancelled, timed-out or compensated runs can be retried`,
        );
      }
      let fromSeq: number | undefined;
      if (p.fromStep !== undefined) {
        const [step] = await tx.db.all<{ seq: number }>("SELECT seq FROM steps WHERE run_id = ? AND name = ?", [
          row.id,
          p.fromStep,
        ]);
        if (!step) throw new KilnError("STEP_NOT_FOUND", `Run ${p.id} has no step "${p.fromStep}"`);
        fromSeq = step.seq;
      }
      await requeueRun(this.#k, tx, row, fromSeq);
      return this.#k.readRun(tx, row.id);
    });
  }

  // ── events ──────────────────────────────────────────────────────────────────────────────────

  async sendEvent(p: Readonly<SendEventParams>): Promise<SendEventResult> {
    const payload = this.#k.encode(p.payload, `payload of event "${p.name}"`);
    const key = p.key ?? null;
    const retentionMs = p.retentionMs ?? DEFAULT_EVENT_RETENTION_MS;
    return this.#k.tx(async (tx) => {
      await this.#k.lockEventName(tx, p.namespace, p.name);
      const eventId = newId();
      let deliveredTo: string | null = null;
      for (;;) {
        const [wait] = await tx.db.all<{ run_id: string; step_name: string }>(
          `SELECT run_id, step_name FROM event_waits
           WHERE namespace = ? AND event_name = ? AND (event_key IS NULL OR event_key = ?)
             AND (timeout_at IS NULL OR timeout_at > ?)
           ORDER BY created_at, wait_id LIMIT 1`,
          [p.namespace, p.name, key, tx.now],
        );
        if (!wait) break;
        const runs = await this.#k.lockRuns(tx, [wait.run_id]);
        const run = runs.get(wait.run_id);
        const changed =
          run === undefined || isTerminal(run.status as RunStatus)
            ? 0
            : await tx.db.run(
                `UPDATE steps SET status = 'completed', output = ?, error = NULL, finished_at = ?
                 WHERE run_id = ? AND name = ? AND status NOT IN ${SETTLED}`,
                [payload, tx.now, wait.run_id, wait.step_name],
              );
        await tx.db.run("DELETE FROM event_waits WHERE run_id = ? AND step_name = ?", [wait.run_id, wait.step_name]);
        if (changed === 0) continue; // a stale wait: try the next waiter
        deliveredTo = wait.run_id;
        await wakeRuns(this.#k, tx, [wait.run_id]);
        break;
      }
      await tx.db.run(
        `INSERT INTO events (id, namespace, name, key, payload, created_at, expires_at, consumed_by, consumed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          eventId,
          p.namespace,
          p.name,
          key,
          payload,
          tx.now,
          tx.now + retentionMs,
          deliveredTo,
          deliveredTo === null ? null : tx.now,
        ],
      );
      return { eventId, deliveredTo };
    });
  }

  // ── queues ──────────────────────────────────────────────────────────────────────────────────

  async setQueue(p: Readonly<QueueSettings>): Promise<QueueSettings> {
    for (const [name, value] of [
      ["concurrencyLimit", p.concurrencyLimit],
      ["keyConcurrencyLimit", p.keyConcurrencyLimit],
    ] as const) {
      if (value !== null && !(Number.isSafeInteger(value) && value > 0)) {
        throw new KilnError(
          "INVALID_INPUT",
          `Expected "${name}" to be a positive integer or null, got ${JSON.stringify(value)}`,
        );
      }
    }
    return this.#k.tx(async (tx) => {
      await tx.db.run(
        `INSERT INTO queues (namespace, name, concurrency_limit, key_concurrency_limit, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (namespace, name) DO UPDATE SET concurrency_limit = excluded.concurrency_limit,
           key_concurrency_limit = excluded.key_concurrency_limit, updated_at = excluded.updated_at`,
        [p.namespace, p.name, p.concurrencyLimit, p.keyConcurrencyLimit, tx.now],
      );
      // A raised limit may make waiting runs claimable.
      this.#k.markReady(tx, p.namespace, p.name);
      return {
        namespace: p.namespace,
        name: p.name,
        concurrencyLimit: p.concurrencyLimit,
        keyConcurrencyLimit: p.keyConcurrencyLimit,
      };
    });
  }

  async getQueue(p: Readonly<{ namespace: string; name: string }>): Promise<QueueSettings | undefined> {
    const [row] = await this.#k.driver.all<QueueRow>(
      "SELECT namespace, name, concurrency_limit, key_concurrency_limit FROM queues WHERE namespace = ? AND name = ?",
      [p.namespace, p.name],
    );
    return row ? rowToQueue(row) : undefined;
  }

  // ── logs ────────────────────────────────────────────────────────────────────────────────────

  async appendLogs(p: Readonly<{ entries: readonly LogEntryInput[] }>): Promise<void> {
    if (p.entries.length === 0) return;
    const now = this.#k.clock();
    const src = rowsSource(
      this.#k.dialect,
      [
        ["run_id", "text"],
        ["attempt", "bigint"],
        ["step_name", "text"],
        ["level", "text"],
        ["message", "text"],
        ["ts", "bigint"],
      ],
      // A NUL in one line must not fail the batch (PostgreSQL refuses it): replaced, as in outputs.
      p.entries.map((e) => [
        e.runId,
        e.attempt,
        e.stepName == null ? null : replaceNul(e.stepName),
        e.level,
        replaceNul(e.message),
        e.ts ?? now,
      ]),
    );
    await this.#k.driver.run(
      `INSERT INTO logs (run_id, attempt, step_name, level, message, ts)
       SELECT run_id, attempt, step_name, level, message, ts FROM ${src.sql}`,
      src.params,
    );
  }

  async listLogs(p: Readonly<{ runId: string; afterSeq?: number; limit?: number }>): Promise<LogEntry[]> {
    const limit = Math.min(Math.max(Math.floor(p.limit ?? 1000), 1), 10_000);
    const rows = await this.#k.driver.all<LogRow>(
      "SELECT * FROM logs WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
      [p.runId, p.afterSeq ?? 0, limit],
    );
    return rows.map(rowToLog);
  }

  // ── housekeeping ────────────────────────────────────────────────────────────────────────────

  purgeFinishedRuns(p: Readonly<PurgeFinishedRunsParams>): Promise<PurgeResult> {
    return purgeFinishedRuns(this.#k.driver, p);
  }

  async sweep(p: Readonly<{ limit?: number }> = {}): Promise<SweepResult> {
    const limit = Math.max(1, Math.floor(p.limit ?? 1000));
    return this.#k.tx(async (tx) => {
      // A run already winding down (cancelling, compensating) is left to finish its compensations.
      const due = await tx.db.all<WorkRow>(
        `SELECT ${WORK_SELECT} FROM runs
         WHERE deadline_at IS NOT NULL AND status NOT IN ${TERMINAL} AND deadline_at <= ?
           AND status NOT IN ('cancelling', 'compensating')
           AND (lease_owner IS NULL OR lease_expires_at <= ?)
         ORDER BY deadline_at LIMIT ?${this.#k.skipLocked}`,
        [tx.now, tx.now, limit],
      );
      const compensable = await compensableRuns(
        this.#k,
        tx,
        due.map((r) => r.id),
      );
      const ended = due.map((r): WorkRow => {
        const base: WorkRow = {
          ...r,
          error: this.#k.encodeError({
            code: "RUN_TIMEOUT",
            message: `Run ${r.id} did not finish before its deadline`,
            retryable: false,
          }),
          lease_owner: null,
          lease_expires_at: null,
          wake_requested: 0,
          updated_at: tx.now,
        };
        // A timeout compensates like a failure: compensating now, `compensated` when undone.
        if (compensable.has(r.id)) return { ...base, status: "compensating", available_at: tx.now };
        return { ...base, status: "timed_out", available_at: null, finished_at: tx.now };
      });
      await this.#k.writeRuns(tx, ended);
      for (const r of ended) if (r.status === "compensating") this.#k.markReady(tx, r.namespace, r.queue);
      await closeWaits(
        this.#k,
        tx,
        ended.map((r) => r.id),
      );
      const timedOut = ended.filter((r) => r.status === "timed_out");
      await settleTerminal(this.#k, tx, timedOut);
      if (ended.length > 0) {
        const children = await descendants(
          this.#k,
          tx,
          ended.map((r) => r.id),
        );
        await cancelRuns(this.#k, tx, children, "the parent run timed out");
      }
      const woken = await tx.db.all<{ namespace: string; queue: string }>(
        `UPDATE runs SET status = 'queued', available_at = ?, updated_at = ?
         WHERE id IN (SELECT id FROM runs WHERE status IN ('sleeping', 'waiting') AND available_at <= ?
                      LIMIT ?${this.#k.skipLocked})
         RETURNING namespace, queue`,
        [tx.now, tx.now, tx.now, limit],
      );
      for (const w of woken) this.#k.markReady(tx, w.namespace, w.queue);
      // Events past their retention go, delivered or not: retention bounds how long any is kept.
      const eventsDeleted = await tx.db.run(
        `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE expires_at <= ? LIMIT ?${this.#k.skipLocked})`,
        [tx.now, limit],
      );
      return { timedOut: ended.length, woken: woken.length, eventsDeleted };
    });
  }

  async getNextWakeAt(p: Readonly<{ namespace?: string }>): Promise<number | null> {
    return this.#k.nextWakeAt(this.#k.driver, this.#k.clock(), p.namespace);
  }

  async subscribe(listener: (n: StoreNotification) => void): Promise<() => Promise<void>> {
    return this.#k.driver.listen(RUNS_CHANNEL, (payload) => {
      let note: { namespace?: unknown; queue?: unknown };
      try {
        note = JSON.parse(payload) as typeof note;
      } catch {
        return;
      }
      if (typeof note.namespace !== "string" || typeof note.queue !== "string") return;
      listener({ type: "runs-ready", namespace: note.namespace, queue: note.queue });
    });
  }

  async subscribeRunEnds(p: Readonly<SubscribeRunEndsParams>): Promise<() => Promise<void>> {
    const local = (runIds: readonly string[]) => p.onEnded({ runIds });
    this.#k.runEnds.add(local);
    if (this.#k.dialect !== "postgres") {
      return async () => {
        this.#k.runEnds.delete(local);
      };
    }
    // Run ends committed by other processes (this one's come back too: a second, harmless hint).
    let unlisten: () => Promise<void>;
    try {
      unlisten = await this.#k.driver.listen(
        RUN_ENDS_CHANNEL,
        (payload) => {
          const runIds = (JSON.parse(payload) as { runIds?: unknown }).runIds;
          if (Array.isArray(runIds)) p.onEnded({ runIds: runIds.filter((id) => typeof id === "string") });
        },
        p.onResync ? { onReconnect: p.onResync } : {},
      );
    } catch (error) {
      this.#k.runEnds.delete(local);
      throw error;
    }
    return async () => {
      this.#k.runEnds.delete(local);
      await unlisten();
    };
  }

  async close(): Promise<void> {
    await this.#k.driver.close();
  }

  // ── worker side (fenced): sql-claim.ts and sql-worker-writes.ts ─────────────────────────────

  claimRuns(p: Readonly<ClaimRunsParams>): Promise<ClaimRunsResult> {
    return claimRuns(this.#k, p);
  }

  extendLeases(p: Readonly<ExtendLeasesParams>): Promise<ExtendLeasesResult> {
    return extendLeases(this.#k, p);
  }

  saveSteps(p: Readonly<{ steps: readonly SaveStepParams[] }>): Promise<WriteResult[]> {
    return saveSteps(this.#k, p);
  }

  startChildRun(p: Readonly<StartChildRunParams>): Promise<WriteResult & { readonly childRunId?: string }> {
    return startChildRun(this.#k, p);
  }

  awaitEvent(p: Readonly<AwaitEventParams>): Promise<WriteResult & { readonly step?: Step }> {
    return awaitEvent(this.#k, p);
  }

  finishRuns(p: Readonly<{ items: readonly FinishRunParams[] }>): Promise<WriteResult[]> {
    return finishRuns(this.#k, p);
  }

  updateRuns(p: Readonly<{ items: readonly UpdateRunParams[] }>): Promise<WriteResult[]> {
    return updateRuns(this.#k, p);
  }
  // ── schedules: sql-schedules.ts ─────────────────────────────────────────────────────────────

  putSchedule(p: Parameters<ScheduleStore["putSchedule"]>[0]) {
    return this.#schedules.putSchedule(p);
  }

  getSchedule(p: Parameters<ScheduleStore["getSchedule"]>[0]) {
    return this.#schedules.getSchedule(p);
  }

  listSchedules(p: Parameters<ScheduleStore["listSchedules"]>[0]) {
    return this.#schedules.listSchedules(p);
  }

  deleteSchedule(p: Parameters<ScheduleStore["deleteSchedule"]>[0]) {
    return this.#schedules.deleteSchedule(p);
  }

  setSchedulePaused(p: Parameters<ScheduleStore["setSchedulePaused"]>[0]) {
    return this.#schedules.setSchedulePaused(p);
  }

  fireDueSchedules(p: Parameters<ScheduleStore["fireDueSchedules"]>[0]) {
    return this.#schedules.fireDueSchedules(p);
  }

  triggerSchedule(p: Parameters<ScheduleStore["triggerSchedule"]>[0]) {
    return this.#schedules.triggerSchedule(p);
  }

  backfillSchedule(p: Parameters<ScheduleStore["backfillSchedule"]>[0]) {
    return this.#schedules.backfillSchedule(p);
  }

  listScheduleFires(p: Parameters<ScheduleStore["listScheduleFires"]>[0]) {
    return this.#schedules.listScheduleFires(p);
  }

  getNextScheduleDueAt() {
    return this.#schedules.getNextScheduleDueAt();
  }
}
