import { type PurgeFinishedRunsParams, type PurgeResult, purgeFinishedRuns } from "./sql-retention.ts";
import { type AuditStore, SqlAuditStore } from "./audit-store.ts";
import { KilnError } from "../errors.ts";
import { newId } from "../engine/ids.ts";
import type { Run } from "../engine/run.ts";
import { nextRunStatus } from "../engine/run-transitions.ts";
import { isTerminal, type RunStatus } from "../engine/status.ts";
import type { Step } from "../engine/step.ts";
import type { SqlDriver, SqlScalar } from "./sql-driver.ts";
import { LocalHandoff } from "./local-handoff.ts";
import { startRunsHandedOver } from "./sql-start-claim.ts";
import type { HandoffOffer } from "../engine/handoff.ts";
import { SqlControl } from "./sql-control.ts";
import type { ControlStore } from "./control-store.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import { SqlEngineClient } from "./sql-engine-client.ts";
import { sweep } from "./sql-sweep.ts";
import { SqlWebhooks } from "./sql-webhooks.ts";
import { SqlAccountStore } from "./account-store.ts";
import type { ScheduleStore } from "./schedule-store.ts";
import { SqlSchedules } from "./sql-schedules.ts";
import { RUN_ENDS_CHANNEL, SETTLED, SqlKernel } from "./sql-kernel.ts";
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
import { cancelRuns, descendants, notRetryable, requeueRun, wakeRuns } from "./sql-transitions.ts";
import { deleteWorkflow } from "./sql-workflow-registry.ts";
import { listEvents } from "./sql-events.ts";
import type { DeleteWorkflowParams, DeleteWorkflowResult } from "./workflow-registry.ts";
import type {
  EventPage,
  ListEventsParams,
  ListRunsParams,
  QueueSettings,
  RunPage,
  Store,
  SubscribeRunEndsParams,
  StoreOptions,
} from "./store.ts";
import type { LogEntry } from "../engine/log-entry.ts";
import type { SendEventParams, SendEventResult } from "../engine/events.ts";
import type { StartRunParams, StartRunResult } from "../engine/start-run.ts";
import type { SweepResult } from "../engine/housekeeper.ts";

export { RUNS_CHANNEL } from "./sql-kernel.ts";

const DEFAULT_EVENT_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * The Store over any SqlDriver: all of Kiln's persistence logic, written once for SQLite and
 * PostgreSQL, composed of parts it delegates to: the worker side (sql-engine-client.ts over
 * sql-claim.ts, sql-leases.ts, sql-steps.ts, sql-finish.ts, sql-run-state.ts), the control plane
 * (sql-control.ts) and schedules (sql-schedules.ts); sql-kernel.ts holds the plumbing and row
 * primitives, sql-transitions.ts the effects on other rows (wake-ups, parents, cancellation), and
 * engine/run-transitions.ts decides every status change. Fenced writes follow one pattern — read and lock
 * the runs concerned, decide every item in memory against the locked rows, then write the
 * decisions back with set-based statements — so a batch costs a handful of statements whatever
 * its size.
 */
export class SqlStore implements Store {
  readonly dialect: "sqlite" | "postgres";
  protected readonly driver: SqlDriver;
  readonly audit: AuditStore;
  readonly #k: SqlKernel;
  /** The worker-side verbs (claims, leases, fenced writes, logs, notifications). */
  readonly #worker: SqlEngineClient;
  /** The control plane: namespaces, tokens, secrets, deployments, workers. */
  readonly #control: SqlControl;
  /** Idle workers of this process that take runs as they start (start+claim fusion). */
  readonly #handoff = new LocalHandoff();
  readonly webhooks: SqlWebhooks;
  readonly accounts: SqlAccountStore;
  readonly #schedules: SqlSchedules;

  protected constructor(driver: SqlDriver, options: Readonly<StoreOptions> = {}) {
    this.driver = driver;
    this.dialect = driver.dialect;
    this.#k = new SqlKernel(driver, options);
    this.#worker = new SqlEngineClient(this.#k);
    this.#control = new SqlControl(driver, options.clock ?? Date.now);
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
        if (row.available_at === null) continue;
        if (row.available_at <= tx.now) this.#k.markReady(tx, row.namespace, row.queue);
        else this.#k.markTimer(tx, row.namespace, row.queue, row.available_at);
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
      if (nextRunStatus(row.status as RunStatus, "cancel") === undefined) {
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
      if (nextRunStatus(row.status as RunStatus, "retry") === undefined) throw notRetryable(row);
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

  sweep(p: Readonly<{ limit?: number }> = {}): Promise<SweepResult> {
    return sweep(this.#k, p);
  }

  async getNextWakeAt(p: Readonly<{ namespace?: string }>): Promise<number | null> {
    return this.#k.nextWakeAt(this.#k.driver, this.#k.clock(), p.namespace);
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

  // ── worker side (fenced): sql-engine-client.ts ───────────────────────────────────────────────

  claimRuns(...a: Parameters<EngineClient["claimRuns"]>): ReturnType<EngineClient["claimRuns"]> {
    return this.#worker.claimRuns(...a);
  }

  extendLeases(...a: Parameters<EngineClient["extendLeases"]>): ReturnType<EngineClient["extendLeases"]> {
    return this.#worker.extendLeases(...a);
  }

  saveSteps(...a: Parameters<EngineClient["saveSteps"]>): ReturnType<EngineClient["saveSteps"]> {
    return this.#worker.saveSteps(...a);
  }

  startChildRun(...a: Parameters<EngineClient["startChildRun"]>): ReturnType<EngineClient["startChildRun"]> {
    return this.#worker.startChildRun(...a);
  }

  awaitEvent(...a: Parameters<EngineClient["awaitEvent"]>): ReturnType<EngineClient["awaitEvent"]> {
    return this.#worker.awaitEvent(...a);
  }

  finishRuns(...a: Parameters<EngineClient["finishRuns"]>): ReturnType<EngineClient["finishRuns"]> {
    return this.#worker.finishRuns(...a);
  }

  updateRuns(...a: Parameters<EngineClient["updateRuns"]>): ReturnType<EngineClient["updateRuns"]> {
    return this.#worker.updateRuns(...a);
  }

  appendLogs(...a: Parameters<EngineClient["appendLogs"]>): ReturnType<EngineClient["appendLogs"]> {
    return this.#worker.appendLogs(...a);
  }

  subscribe(...a: Parameters<EngineClient["subscribe"]>): ReturnType<EngineClient["subscribe"]> {
    return this.#worker.subscribe(...a);
  }

  // ── control plane: sql-control.ts ───────────────────────────────────────────────────────────

  createNamespace(...a: Parameters<ControlStore["createNamespace"]>): ReturnType<ControlStore["createNamespace"]> {
    return this.#control.createNamespace(...a);
  }

  listNamespaces(...a: Parameters<ControlStore["listNamespaces"]>): ReturnType<ControlStore["listNamespaces"]> {
    return this.#control.listNamespaces(...a);
  }

  getNamespace(...a: Parameters<ControlStore["getNamespace"]>): ReturnType<ControlStore["getNamespace"]> {
    return this.#control.getNamespace(...a);
  }

  createToken(...a: Parameters<ControlStore["createToken"]>): ReturnType<ControlStore["createToken"]> {
    return this.#control.createToken(...a);
  }

  listTokens(...a: Parameters<ControlStore["listTokens"]>): ReturnType<ControlStore["listTokens"]> {
    return this.#control.listTokens(...a);
  }

  revokeToken(...a: Parameters<ControlStore["revokeToken"]>): ReturnType<ControlStore["revokeToken"]> {
    return this.#control.revokeToken(...a);
  }

  importToken(...a: Parameters<ControlStore["importToken"]>): ReturnType<ControlStore["importToken"]> {
    return this.#control.importToken(...a);
  }

  findToken(...a: Parameters<ControlStore["findToken"]>): ReturnType<ControlStore["findToken"]> {
    return this.#control.findToken(...a);
  }

  touchTokens(...a: Parameters<ControlStore["touchTokens"]>): ReturnType<ControlStore["touchTokens"]> {
    return this.#control.touchTokens(...a);
  }

  putSecret(...a: Parameters<ControlStore["putSecret"]>): ReturnType<ControlStore["putSecret"]> {
    return this.#control.putSecret(...a);
  }

  getSecrets(...a: Parameters<ControlStore["getSecrets"]>): ReturnType<ControlStore["getSecrets"]> {
    return this.#control.getSecrets(...a);
  }

  listSecrets(...a: Parameters<ControlStore["listSecrets"]>): ReturnType<ControlStore["listSecrets"]> {
    return this.#control.listSecrets(...a);
  }

  listSecretRecords(
    ...a: Parameters<ControlStore["listSecretRecords"]>
  ): ReturnType<ControlStore["listSecretRecords"]> {
    return this.#control.listSecretRecords(...a);
  }

  deleteSecret(...a: Parameters<ControlStore["deleteSecret"]>): ReturnType<ControlStore["deleteSecret"]> {
    return this.#control.deleteSecret(...a);
  }

  replaceSecretCiphers(
    ...a: Parameters<ControlStore["replaceSecretCiphers"]>
  ): ReturnType<ControlStore["replaceSecretCiphers"]> {
    return this.#control.replaceSecretCiphers(...a);
  }

  deployWorkflow(...a: Parameters<ControlStore["deployWorkflow"]>): ReturnType<ControlStore["deployWorkflow"]> {
    return this.#control.deployWorkflow(...a);
  }

  subscribeDeployments(
    ...a: Parameters<ControlStore["subscribeDeployments"]>
  ): ReturnType<ControlStore["subscribeDeployments"]> {
    return this.#control.subscribeDeployments(...a);
  }

  listWorkflows(...a: Parameters<ControlStore["listWorkflows"]>): ReturnType<ControlStore["listWorkflows"]> {
    return this.#control.listWorkflows(...a);
  }

  listWorkflowVersions(
    ...a: Parameters<ControlStore["listWorkflowVersions"]>
  ): ReturnType<ControlStore["listWorkflowVersions"]> {
    return this.#control.listWorkflowVersions(...a);
  }

  getWorkflow(...a: Parameters<ControlStore["getWorkflow"]>): ReturnType<ControlStore["getWorkflow"]> {
    return this.#control.getWorkflow(...a);
  }

  registerWorker(...a: Parameters<ControlStore["registerWorker"]>): ReturnType<ControlStore["registerWorker"]> {
    return this.#control.registerWorker(...a);
  }

  heartbeatWorker(...a: Parameters<ControlStore["heartbeatWorker"]>): ReturnType<ControlStore["heartbeatWorker"]> {
    return this.#control.heartbeatWorker(...a);
  }

  unregisterWorker(...a: Parameters<ControlStore["unregisterWorker"]>): ReturnType<ControlStore["unregisterWorker"]> {
    return this.#control.unregisterWorker(...a);
  }

  listWorkers(...a: Parameters<ControlStore["listWorkers"]>): ReturnType<ControlStore["listWorkers"]> {
    return this.#control.listWorkers(...a);
  }

  pruneWorkers(...a: Parameters<ControlStore["pruneWorkers"]>): ReturnType<ControlStore["pruneWorkers"]> {
    return this.#control.pruneWorkers(...a);
  }

  countRuns(...a: Parameters<ControlStore["countRuns"]>): ReturnType<ControlStore["countRuns"]> {
    return this.#control.countRuns(...a);
  }

  getRunNamespaces(...a: Parameters<ControlStore["getRunNamespaces"]>): ReturnType<ControlStore["getRunNamespaces"]> {
    return this.#control.getRunNamespaces(...a);
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
