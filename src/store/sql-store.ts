import { KilnError, type SerializedError } from "../errors.ts";
import { newId, newRunId } from "../engine/ids.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES, encodePayload } from "../engine/payload.ts";
import type { Lease, Run } from "../engine/run.ts";
import { isStepSettled, isTerminal, type RunStatus, type StepStatus } from "../engine/status.ts";
import type { Step } from "../engine/step.ts";
import { type ColumnType, inList, rowsSource, type SqlDriver, type SqlFragment, type SqlScalar } from "./sql-driver.ts";
import type { SqlTransaction } from "./sql-driver.ts";
import { SqlControl } from "./sql-control.ts";
import {
  type LogRow,
  type QueueRow,
  RUN_COLUMNS,
  RUN_INTEGER_COLUMNS,
  type RunRow,
  rowToLog,
  rowToQueue,
  rowToRun,
  rowToStep,
  type StepRow,
} from "./sql-rows.ts";
import type {
  AwaitEventParams,
  ClaimedRun,
  ClaimRunsParams,
  ClaimRunsResult,
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
  StoreOptions,
  SweepResult,
  UpdateRunParams,
  WriteResult,
} from "./store.ts";

/** The notification channel for "runs became claimable". */
export const RUNS_CHANNEL = "kiln_runs";

const TERMINAL = "('completed', 'failed', 'cancelled', 'compensated', 'timed_out')";
const SETTLED = "('completed', 'failed', 'skipped', 'compensated')";
const RETRYABLE: ReadonlySet<RunStatus> = new Set<RunStatus>(["failed", "cancelled", "timed_out", "compensated"]);
const DEFAULT_EVENT_RETENTION_MS = 7 * 24 * 3_600_000;
/** How many due parked runs one claim or sweep wakes at most. */
const WAKE_BATCH = 1000;

/** The columns of a run that fenced writes read (and lock) to decide what to write. */
const WORK_COLUMNS = [
  "id",
  "namespace",
  "queue",
  "type",
  "status",
  "attempt",
  "error",
  "parent_run_id",
  "parent_step_name",
  "root_run_id",
  "lease_owner",
  "lease_token",
  "lease_expires_at",
  "available_at",
  "wake_requested",
  "cancel_requested",
  "updated_at",
  "finished_at",
] as const satisfies readonly (keyof RunRow)[];
type WorkColumn = (typeof WORK_COLUMNS)[number];
/** A run as fenced writes see it; `output` is set only when a write produces one. */
type WorkRow = Pick<RunRow, WorkColumn> & { output?: string | null };
const WORK_SELECT = WORK_COLUMNS.join(", ");
/** What a state transition writes back (everything in WorkRow that may change, plus output). */
const TRANSITION_COLUMNS: readonly WorkColumn[] = [
  "status",
  "error",
  "attempt",
  "lease_owner",
  "lease_expires_at",
  "available_at",
  "wake_requested",
  "cancel_requested",
  "updated_at",
  "finished_at",
];

const STEP_COLUMNS = [
  "run_id",
  "name",
  "seq",
  "type",
  "status",
  "output",
  "error",
  "attempt",
  "wake_at",
  "child_run_id",
  "event_name",
  "event_key",
  "compensable",
  "started_at",
  "finished_at",
] as const satisfies readonly (keyof StepRow)[];
const STEP_INTEGER_COLUMNS: ReadonlySet<string> = new Set([
  "seq",
  "attempt",
  "wake_at",
  "compensable",
  "started_at",
  "finished_at",
]);

/**
 * `namespace = ?` that no index serves. Without statistics (a fresh database, before
 * ANALYZE/autovacuum) both planners prefer an index on namespace equality, which scans a whole
 * namespace, over the timer index's range on available_at, which finds the few due timers.
 */
const UNINDEXED_NAMESPACE = "COALESCE(namespace, '')";

/** What a claim sets: a queued run starts running; any other keeps its status (cancelling…). */
const CLAIM_SET = `status = CASE WHEN status IN ('queued', 'running') THEN 'running' ELSE status END,
  attempt = CASE WHEN lease_owner IS NOT NULL AND type = 'task' THEN attempt + 1 ELSE attempt END,
  lease_owner = ?, lease_expires_at = ?, lease_token = lease_token + 1, started_at = COALESCE(started_at, ?),
  wake_requested = 0, updated_at = ?`;

/** One transaction of the store: the connection, its instant, and the queues it made ready. */
interface Tx {
  readonly db: SqlTransaction;
  readonly now: number;
  readonly ready: Map<string, Omit<StoreNotification, "type">>;
}

function column(name: string, integers: ReadonlySet<string>): readonly [string, ColumnType] {
  return [name, integers.has(name) ? "bigint" : "text"];
}

const RUN_SOURCE_COLUMNS = RUN_COLUMNS.map((c) => column(c, RUN_INTEGER_COLUMNS));
const STEP_SOURCE_COLUMNS = STEP_COLUMNS.map((c) => column(c, STEP_INTEGER_COLUMNS));

function unique<T>(values: Iterable<T>): T[] {
  return [...new Set(values)];
}

function leaseLost(lease: Lease, row: WorkRow | undefined): SerializedError {
  const why =
    row === undefined
      ? "the run does not exist"
      : isTerminal(row.status as RunStatus)
        ? `the run is ${row.status}`
        : row.lease_owner === null
          ? "the run holds no lease"
          : `the current token is ${row.lease_token}`;
  return {
    code: "LEASE_LOST",
    message: `Lease token ${lease.leaseToken} of run ${lease.runId} is no longer valid: ${why}`,
  };
}

function toSerialized(error: unknown): SerializedError {
  if (error instanceof KilnError) return { code: error.code, message: error.message };
  throw error;
}

/**
 * The Store over any SqlDriver: all of Kiln's persistence logic, written once for SQLite and
 * PostgreSQL. Fenced writes follow one pattern — read and lock the runs concerned, decide every
 * item in memory against the locked rows, then write the decisions back with set-based
 * statements — so a batch costs a handful of statements whatever its size.
 */
export class SqlStore extends SqlControl implements Store {
  readonly dialect: "sqlite" | "postgres";
  protected readonly driver: SqlDriver;
  readonly #clock: () => number;
  readonly #maxPayloadBytes: number;
  /** PostgreSQL row locks: readers that decide on a row hold it until commit. */
  readonly #forUpdate: string;
  readonly #skipLocked: string;

  protected constructor(driver: SqlDriver, options: Readonly<StoreOptions> = {}) {
    // The control plane (namespaces, tokens, secrets, deployments, workers) lives in sql-control.ts.
    super(driver, options.clock ?? Date.now);
    this.driver = driver;
    this.dialect = driver.dialect;
    this.#clock = options.clock ?? Date.now;
    this.#maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const pg = driver.dialect === "postgres";
    this.#forUpdate = pg ? " FOR UPDATE" : "";
    this.#skipLocked = pg ? " FOR UPDATE SKIP LOCKED" : "";
  }

  // ── plumbing ────────────────────────────────────────────────────────────────────────────────

  async #tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.driver.transaction(async (db) => {
      const tx: Tx = { db, now: this.#clock(), ready: new Map() };
      const result = await fn(tx);
      for (const note of tx.ready.values()) await db.notify(RUNS_CHANNEL, JSON.stringify(note));
      return result;
    });
  }

  #in(values: readonly SqlScalar[], type: ColumnType = "text"): SqlFragment {
    return inList(this.dialect, values, type);
  }

  #markReady(tx: Tx, namespace: string, queue: string): void {
    tx.ready.set(`${namespace}\u0000${queue}`, { namespace, queue });
  }

  /** Serializes both sides of an event pairing (PostgreSQL; SQLite transactions are serial). */
  async #lockEventName(tx: Tx, namespace: string, name: string): Promise<void> {
    if (this.dialect !== "postgres") return;
    await tx.db.all("SELECT pg_advisory_xact_lock(2, hashtext(?::text))", [`${namespace}/${name}`]);
  }

  #encode(value: unknown, what: string): string {
    return encodePayload(value, what, this.#maxPayloadBytes);
  }

  /** Errors are always recorded: an oversized one loses its stack, data and message tail. */
  #encodeError(error: SerializedError): string {
    const text = JSON.stringify(error);
    if (Buffer.byteLength(text) <= this.#maxPayloadBytes) return text;
    const room = Math.max(64, Math.floor(this.#maxPayloadBytes / 4) - 256);
    const message = error.message.length > room ? `${error.message.slice(0, room)}… (truncated)` : error.message;
    return JSON.stringify({
      code: error.code,
      message,
      ...(error.retryable === undefined ? {} : { retryable: error.retryable }),
    });
  }

  /** Reads (and on PostgreSQL locks, in id order) the runs a fenced write decides on. */
  async #lockRuns<X extends object = object>(
    tx: Tx,
    ids: readonly string[],
    extra = "",
  ): Promise<Map<string, WorkRow & X>> {
    const list = this.#in(unique(ids));
    const rows = await tx.db.all<WorkRow & X>(
      `SELECT ${WORK_SELECT}${extra} FROM runs WHERE id ${list.sql} ORDER BY id${this.#forUpdate}`,
      list.params,
    );
    return new Map(rows.map((r) => [r.id, r]));
  }

  #fence(row: WorkRow | undefined, lease: Lease): SerializedError | null {
    if (row === undefined || row.lease_owner === null || isTerminal(row.status as RunStatus)) {
      return leaseLost(lease, row);
    }
    return row.lease_token === lease.leaseToken ? null : leaseLost(lease, row);
  }

  /** Writes the TRANSITION_COLUMNS (and output, when set) of changed runs in one statement. */
  async #writeRuns(tx: Tx, rows: readonly WorkRow[]): Promise<void> {
    if (rows.length === 0) return;
    const columns = ["id", ...TRANSITION_COLUMNS, "output"];
    const src = rowsSource(
      this.dialect,
      columns.map((c) => column(c, RUN_INTEGER_COLUMNS)),
      rows.map((r) => [r.id, ...TRANSITION_COLUMNS.map((c) => r[c]), r.output ?? null]),
    );
    const sets = TRANSITION_COLUMNS.map((c) => `${c} = v.${c}`).join(", ");
    await tx.db.run(
      `UPDATE runs AS t SET ${sets}, output = COALESCE(v.output, t.output) FROM ${src.sql} WHERE t.id = v.id`,
      src.params,
    );
  }

  /** Wakes runs: parked ones go back to queued; a leased one is told to look again. */
  async #wakeRuns(tx: Tx, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const list = this.#in(unique(ids));
    const rows = await tx.db.all<{ namespace: string; queue: string; lease_owner: string | null }>(
      `UPDATE runs SET
         status = CASE WHEN status IN ('sleeping', 'waiting') THEN 'queued' ELSE status END,
         available_at = CASE WHEN lease_owner IS NULL AND status IN ('sleeping', 'waiting', 'cancelling', 'compensating')
           THEN ? ELSE available_at END,
         wake_requested = CASE WHEN lease_owner IS NOT NULL THEN 1 ELSE wake_requested END,
         updated_at = ?
       WHERE id ${list.sql} AND status NOT IN ${TERMINAL}
       RETURNING namespace, queue, lease_owner`,
      [tx.now, tx.now, ...list.params],
    );
    for (const r of rows) if (r.lease_owner === null) this.#markReady(tx, r.namespace, r.queue);
  }

  /**
   * Effects of runs reaching a terminal status, in the same transaction: their event waits go,
   * and each child's step in its parent settles (output, or CHILD_FAILED) and the parent wakes.
   */
  async #settleTerminal(tx: Tx, runs: readonly WorkRow[]): Promise<void> {
    if (runs.length === 0) return;
    const ids = this.#in(runs.map((r) => r.id));
    await settleAll([
      tx.db.run(`DELETE FROM event_waits WHERE run_id ${ids.sql}`, ids.params),
      this.#settleParents(tx, runs),
    ]);
  }

  async #settleParents(tx: Tx, runs: readonly WorkRow[]): Promise<void> {
    const children = runs.filter((r) => r.parent_run_id !== null && r.parent_step_name !== null);
    if (children.length === 0) return;
    const parents = unique(children.map((c) => c.parent_run_id as string));
    if (this.dialect === "postgres") {
      // Lock parents before their steps, the order every other writer follows (run, then steps).
      const list = this.#in(parents);
      await tx.db.all(`SELECT id FROM runs WHERE id ${list.sql} ORDER BY id FOR UPDATE`, list.params);
    }
    const src = rowsSource(
      this.dialect,
      [
        ["pid", "text"],
        ["pstep", "text"],
        ["cid", "text"],
        ["st", "text"],
        ["out", "text"],
        ["err", "text"],
      ],
      children.map((c) => {
        const ok = c.status === "completed";
        const error: SerializedError | null = ok
          ? null
          : {
              code: "CHILD_FAILED",
              message: `Child run ${c.id} ended ${c.status}`,
              data: { childRunId: c.id, status: c.status, error: c.error === null ? null : JSON.parse(c.error) },
            };
        return [
          c.parent_run_id,
          c.parent_step_name,
          c.id,
          ok ? "completed" : "failed",
          ok ? (c.output ?? "null") : null,
          error === null ? null : this.#encodeError(error),
        ];
      }),
    );
    const settled = await tx.db.all<{ run_id: string }>(
      `UPDATE steps AS t SET status = v.st, output = v.out, error = v.err, finished_at = ?, wake_at = NULL
       FROM ${src.sql}
       WHERE t.run_id = v.pid AND t.name = v.pstep AND t.child_run_id = v.cid AND t.status NOT IN ${SETTLED}
       RETURNING run_id`,
      [tx.now, ...src.params],
    );
    await this.#wakeRuns(
      tx,
      settled.map((s) => s.run_id),
    );
  }

  /** The non-terminal descendants of runs (locked), breadth first. */
  async #descendants(tx: Tx, ids: readonly string[]): Promise<WorkRow[]> {
    const found: WorkRow[] = [];
    const seen = new Set(ids);
    let frontier = [...ids];
    while (frontier.length > 0) {
      const list = this.#in(frontier);
      const rows = await tx.db.all<WorkRow>(
        `SELECT ${WORK_SELECT} FROM runs WHERE parent_run_id IS NOT NULL AND parent_run_id ${list.sql}
         AND status NOT IN ${TERMINAL} ORDER BY id${this.#forUpdate}`,
        list.params,
      );
      frontier = [];
      for (const row of rows) {
        if (seen.has(row.id)) continue;
        seen.add(row.id);
        found.push(row);
        frontier.push(row.id);
      }
    }
    return found;
  }

  /**
   * Cancels non-terminal runs: a leased one becomes `cancelling` (its worker finds out); an
   * unleased one with compensable completed steps becomes `cancelling` and claimable (a worker
   * compensates); any other becomes `cancelled` at once.
   */
  async #cancelRuns(tx: Tx, rows: readonly WorkRow[], reason: string | undefined): Promise<void> {
    const todo = rows.filter((r) => r.status !== "cancelling" && !isTerminal(r.status as RunStatus));
    if (todo.length === 0) return;
    const error = this.#encodeError({
      code: "RUN_CANCELLED",
      message: reason ? `Run cancelled: ${reason}` : "Run cancelled",
    });
    const unleased = todo.filter((r) => r.lease_owner === null).map((r) => r.id);
    const compensable = new Set<string>();
    if (unleased.length > 0) {
      const list = this.#in(unleased);
      const found = await tx.db.all<{ run_id: string }>(
        `SELECT DISTINCT run_id FROM steps WHERE run_id ${list.sql} AND compensable = 1 AND status = 'completed'`,
        list.params,
      );
      for (const f of found) compensable.add(f.run_id);
    }
    const changed: WorkRow[] = [];
    const terminal: WorkRow[] = [];
    for (const row of todo) {
      const base = { ...row, error, cancel_requested: 1, updated_at: tx.now };
      if (row.lease_owner !== null) {
        changed.push({ ...base, status: "cancelling" });
      } else if (compensable.has(row.id)) {
        changed.push({ ...base, status: "cancelling", available_at: tx.now });
        this.#markReady(tx, row.namespace, row.queue);
      } else {
        const done = { ...base, status: "cancelled", available_at: null, wake_requested: 0, finished_at: tx.now };
        changed.push(done);
        terminal.push(done);
      }
    }
    await this.#writeRuns(tx, changed);
    await this.#settleTerminal(tx, terminal);
  }

  async #nextWakeAt(db: SqlTransaction | SqlDriver, now: number, namespace?: string): Promise<number | null> {
    const scope = namespace === undefined ? "" : ` AND ${UNINDEXED_NAMESPACE} = ?`;
    const args = namespace === undefined ? [now] : [now, namespace];
    const rows = await db.all<{ t: number | null }>(
      `SELECT MIN(t) AS t FROM (
         SELECT MIN(available_at) AS t FROM runs WHERE status IN ('sleeping', 'waiting') AND available_at > ?${scope}
         UNION ALL
         SELECT MIN(available_at) AS t FROM runs
         WHERE status = 'queued' AND available_at > created_at AND available_at > ?${scope}
       ) AS w`,
      [...args, ...args],
    );
    return rows[0]?.t ?? null;
  }

  // ── runs (client side) ──────────────────────────────────────────────────────────────────────

  #newRunRow(p: Readonly<StartRunParams>, now: number): RunRow {
    if (typeof p.namespace !== "string" || p.namespace === "") {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected "namespace" to be a non-empty string, got ${JSON.stringify(p.namespace)}`,
      );
    }
    if (typeof p.name !== "string" || p.name === "") {
      throw new KilnError("INVALID_INPUT", `Expected "name" to be a non-empty string, got ${JSON.stringify(p.name)}`);
    }
    if (p.type !== "task" && p.type !== "workflow") {
      throw new KilnError("INVALID_INPUT", `Expected "type" to be "task" or "workflow", got ${JSON.stringify(p.type)}`);
    }
    const priority = p.priority ?? 0;
    if (!Number.isSafeInteger(priority)) {
      throw new KilnError("INVALID_INPUT", `Expected "priority" to be an integer, got ${JSON.stringify(p.priority)}`);
    }
    const queue = p.queue ?? "default";
    if (typeof queue !== "string" || queue === "") {
      throw new KilnError("INVALID_INPUT", `Expected "queue" to be a non-empty string, got ${JSON.stringify(p.queue)}`);
    }
    const timeoutMs = p.timeoutMs ?? null;
    if (timeoutMs !== null && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected "timeoutMs" to be a positive number, got ${JSON.stringify(p.timeoutMs)}`,
      );
    }
    const id = p.id ?? newRunId();
    return {
      id,
      namespace: p.namespace,
      type: p.type,
      name: p.name,
      version: p.version ?? null,
      queue,
      priority,
      concurrency_key: p.concurrencyKey ?? null,
      status: "queued",
      input: this.#encode(p.input, `input of run "${p.name}"`),
      output: null,
      error: null,
      attempt: 1,
      retry_policy: p.retryPolicy ? JSON.stringify(p.retryPolicy) : null,
      idempotency_key: p.idempotencyKey ?? null,
      parent_run_id: p.parentRunId ?? null,
      parent_step_name: p.parentStepName ?? null,
      root_run_id: p.rootRunId ?? id,
      lease_owner: null,
      lease_token: 0,
      lease_expires_at: null,
      available_at: p.availableAt ?? now,
      deadline_at: timeoutMs === null ? null : now + Math.ceil(timeoutMs),
      wake_requested: 0,
      cancel_requested: 0,
      state: "{}",
      progress: null,
      metadata: this.#encode(p.metadata ?? {}, `metadata of run "${p.name}"`),
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
    };
  }

  /** Inserts runs, resolving idempotency keys against existing runs (and earlier items). */
  async #insertRuns(tx: Tx, rows: readonly RunRow[]): Promise<StartRunResult[]> {
    const src = rowsSource(
      this.dialect,
      RUN_SOURCE_COLUMNS,
      rows.map((r) => RUN_COLUMNS.map((c) => r[c])),
    );
    const cols = RUN_COLUMNS.join(", ");
    const inserted = await tx.db.all<{ id: string }>(
      `INSERT INTO runs (${cols}) SELECT ${cols} FROM ${src.sql} WHERE true ON CONFLICT DO NOTHING RETURNING id`,
      src.params,
    );
    const created = new Set(inserted.map((r) => r.id));
    const results: StartRunResult[] = [];
    for (const row of rows) {
      if (created.has(row.id)) {
        created.delete(row.id); // a repeated id in the batch is created once
        if (row.available_at !== null && row.available_at <= tx.now) this.#markReady(tx, row.namespace, row.queue);
        results.push({ run: rowToRun(row), created: true });
        continue;
      }
      if (row.idempotency_key === null) {
        throw new KilnError("INVALID_INPUT", `A run with id ${row.id} already exists`);
      }
      const [existing] = await tx.db.all<RunRow>("SELECT * FROM runs WHERE namespace = ? AND idempotency_key = ?", [
        row.namespace,
        row.idempotency_key,
      ]);
      if (!existing) throw new KilnError("INVALID_INPUT", `A run with id ${row.id} already exists`);
      if (existing.name !== row.name || existing.type !== row.type) {
        throw new KilnError(
          "IDEMPOTENCY_CONFLICT",
          `Idempotency key "${row.idempotency_key}" already belongs to run ${existing.id} (${existing.type} "${existing.name}"), not to a ${row.type} "${row.name}"`,
          { data: { runId: existing.id } },
        );
      }
      results.push({ run: rowToRun(existing), created: false });
    }
    return results;
  }

  async startRun(p: Readonly<StartRunParams>): Promise<StartRunResult> {
    const [result] = await this.startRuns({ runs: [p] });
    return result as StartRunResult;
  }

  async startRuns(p: Readonly<{ runs: readonly StartRunParams[] }>): Promise<StartRunResult[]> {
    if (p.runs.length === 0) return [];
    return this.#tx(async (tx) =>
      this.#insertRuns(
        tx,
        p.runs.map((r) => this.#newRunRow(r, tx.now)),
      ),
    );
  }

  async getRun(p: Readonly<{ namespace: string; id: string }>): Promise<Run | undefined> {
    const [row] = await this.driver.all<RunRow>("SELECT * FROM runs WHERE id = ? AND namespace = ?", [
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
      const list = this.#in(statuses);
      where.push(`status ${list.sql}`);
      params.push(...list.params);
      // Point the planner at the index that holds these statuses (see runs_list_status).
      if (statuses.every((s) => s !== "running" && s !== "completed")) {
        where.push("status NOT IN ('running', 'completed')");
      } else if (statuses.every((s) => s === "running")) {
        where.push("lease_owner IS NOT NULL");
      }
    }
    const filters: [string, string | undefined][] = [
      ["name = ?", p.name],
      ["type = ?", p.type],
      ["parent_run_id = ?", p.parentRunId],
      ["id < ?", p.cursor],
    ];
    for (const [sql, value] of filters) {
      if (value === undefined) continue;
      where.push(sql);
      params.push(value);
    }
    const limit = Math.min(Math.max(Math.floor(p.limit ?? 50), 1), 1000);
    const rows = await this.driver.all<RunRow>(
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
    const rows = await this.driver.all<StepRow>("SELECT * FROM steps WHERE run_id = ? ORDER BY seq, name", [p.runId]);
    return rows.map(rowToStep);
  }

  async #lockRunOf(tx: Tx, namespace: string, id: string): Promise<WorkRow> {
    const [row] = await tx.db.all<WorkRow>(
      `SELECT ${WORK_SELECT} FROM runs WHERE id = ? AND namespace = ?${this.#forUpdate}`,
      [id, namespace],
    );
    if (!row) throw new KilnError("RUN_NOT_FOUND", `No run ${id} in namespace "${namespace}"`);
    return row;
  }

  async #readRun(tx: Tx, id: string): Promise<Run> {
    const [row] = await tx.db.all<RunRow>("SELECT * FROM runs WHERE id = ?", [id]);
    if (!row) throw new KilnError("RUN_NOT_FOUND", `No run ${id}`);
    return rowToRun(row);
  }

  async cancelRun(p: Readonly<{ namespace: string; id: string; reason?: string }>): Promise<Run> {
    return this.#tx(async (tx) => {
      const row = await this.#lockRunOf(tx, p.namespace, p.id);
      if (isTerminal(row.status as RunStatus)) {
        throw new KilnError(
          "INVALID_STATE_TRANSITION",
          `Run ${p.id} is already ${row.status}; only a live run can be cancelled`,
        );
      }
      const descendants = await this.#descendants(tx, [row.id]);
      await this.#cancelRuns(tx, [row, ...descendants], p.reason);
      return this.#readRun(tx, row.id);
    });
  }

  async retryRun(p: Readonly<{ namespace: string; id: string; fromStep?: string }>): Promise<Run> {
    return this.#tx(async (tx) => {
      const row = await this.#lockRunOf(tx, p.namespace, p.id);
      if (!RETRYABLE.has(row.status as RunStatus)) {
        throw new KilnError(
          "INVALID_STATE_TRANSITION",
          `Run ${p.id} is ${row.status}; only failed, cancelled, timed-out or compensated runs can be retried`,
        );
      }
      if (p.fromStep !== undefined) {
        const [step] = await tx.db.all<{ seq: number }>("SELECT seq FROM steps WHERE run_id = ? AND name = ?", [
          row.id,
          p.fromStep,
        ]);
        if (!step) throw new KilnError("STEP_NOT_FOUND", `Run ${p.id} has no step "${p.fromStep}"`);
        await tx.db.run("DELETE FROM steps WHERE run_id = ? AND seq >= ?", [row.id, step.seq]);
      } else {
        await tx.db.run("DELETE FROM steps WHERE run_id = ? AND status = 'failed'", [row.id]);
      }
      // A new attempt gets the run's whole time budget again.
      await tx.db.run(
        `UPDATE runs SET status = 'queued', attempt = attempt + 1, error = NULL, output = NULL, finished_at = NULL,
           available_at = ?, lease_owner = NULL, lease_expires_at = NULL, wake_requested = 0, cancel_requested = 0,
           deadline_at = CASE WHEN deadline_at IS NULL THEN NULL ELSE ? + (deadline_at - created_at) END, updated_at = ?
         WHERE id = ?`,
        [tx.now, tx.now, tx.now, row.id],
      );
      this.#markReady(tx, row.namespace, row.queue);
      return this.#readRun(tx, row.id);
    });
  }

  // ── events ──────────────────────────────────────────────────────────────────────────────────

  async sendEvent(p: Readonly<SendEventParams>): Promise<SendEventResult> {
    const payload = this.#encode(p.payload, `payload of event "${p.name}"`);
    const key = p.key ?? null;
    const retentionMs = p.retentionMs ?? DEFAULT_EVENT_RETENTION_MS;
    return this.#tx(async (tx) => {
      await this.#lockEventName(tx, p.namespace, p.name);
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
        const runs = await this.#lockRuns(tx, [wait.run_id]);
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
        await this.#wakeRuns(tx, [wait.run_id]);
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
    return this.#tx(async (tx) => {
      await tx.db.run(
        `INSERT INTO queues (namespace, name, concurrency_limit, key_concurrency_limit, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (namespace, name) DO UPDATE SET concurrency_limit = excluded.concurrency_limit,
           key_concurrency_limit = excluded.key_concurrency_limit, updated_at = excluded.updated_at`,
        [p.namespace, p.name, p.concurrencyLimit, p.keyConcurrencyLimit, tx.now],
      );
      // A raised limit may make waiting runs claimable.
      this.#markReady(tx, p.namespace, p.name);
      return {
        namespace: p.namespace,
        name: p.name,
        concurrencyLimit: p.concurrencyLimit,
        keyConcurrencyLimit: p.keyConcurrencyLimit,
      };
    });
  }

  async getQueue(p: Readonly<{ namespace: string; name: string }>): Promise<QueueSettings | undefined> {
    const [row] = await this.driver.all<QueueRow>(
      "SELECT namespace, name, concurrency_limit, key_concurrency_limit FROM queues WHERE namespace = ? AND name = ?",
      [p.namespace, p.name],
    );
    return row ? rowToQueue(row) : undefined;
  }

  // ── worker side ─────────────────────────────────────────────────────────────────────────────

  async claimRuns(p: Readonly<ClaimRunsParams>): Promise<ClaimRunsResult> {
    if (p.limit <= 0 || p.queues.length === 0) return { runs: [], nextWakeAt: null };
    return this.#tx(async (tx) => {
      const queueNames = unique(p.queues);
      const queues = this.#in(queueNames);
      const names = p.names === undefined ? undefined : this.#in(p.names);
      const nameSql = names === undefined ? "" : ` AND name ${names.sql}`;
      const nameParams = names?.params ?? [];
      const claimParams = [p.owner, tx.now + p.leaseMs, tx.now, tx.now];

      // Independent statements, issued together (pipelined on PostgreSQL): wake due timers first
      // so that woken runs compete in this claim, read the queues' limits, and take over runs
      // whose worker vanished (lease expired; they already count against any limit).
      const [woken, settings, takeovers] = await Promise.all([
        tx.db.all<{ queue: string }>(
          `UPDATE runs SET status = 'queued', available_at = ?, updated_at = ?
           WHERE id IN (SELECT id FROM runs WHERE status IN ('sleeping', 'waiting') AND available_at <= ?
                        AND ${UNINDEXED_NAMESPACE} = ? AND COALESCE(queue, '') ${queues.sql}
                        LIMIT ${WAKE_BATCH}${this.#skipLocked})
           RETURNING queue`,
          [tx.now, tx.now, tx.now, p.namespace, ...queues.params],
        ),
        tx.db.all<QueueRow>(
          `SELECT namespace, name, concurrency_limit, key_concurrency_limit FROM queues
           WHERE namespace = ? AND name ${queues.sql}
             AND (concurrency_limit IS NOT NULL OR key_concurrency_limit IS NOT NULL)`,
          [p.namespace, ...queues.params],
        ),
        tx.db.all<RunRow>(
          `UPDATE runs SET ${CLAIM_SET}
           WHERE id IN (SELECT id FROM runs WHERE lease_owner IS NOT NULL AND namespace = ? AND queue ${queues.sql}
                        AND lease_expires_at <= ?${nameSql} ORDER BY lease_expires_at, id LIMIT ?${this.#skipLocked})
           RETURNING *`,
          [...claimParams, p.namespace, ...queues.params, tx.now, ...nameParams, p.limit],
        ),
      ]);
      for (const queue of unique(woken.map((w) => w.queue))) this.#markReady(tx, p.namespace, queue);

      const room = p.limit - takeovers.length;
      let ready: RunRow[] = [];
      if (room > 0 && queueNames.length === 1 && settings.length === 0) {
        // The common case, one statement: claim the first ready runs of one unlimited queue.
        ready = await tx.db.all<RunRow>(
          `UPDATE runs SET ${CLAIM_SET}
           WHERE id IN (SELECT id FROM runs WHERE lease_owner IS NULL AND status IN ('queued', 'cancelling', 'compensating')
                        AND namespace = ? AND queue = ? AND available_at <= ?${nameSql}
                        ORDER BY priority DESC, available_at, id LIMIT ?${this.#skipLocked})
           RETURNING *`,
          [...claimParams, p.namespace, queueNames[0] as string, tx.now, ...nameParams, room],
        );
      } else if (room > 0) {
        const picked = await this.#pickReady(tx, p, queueNames, settings, room);
        if (picked.length > 0) {
          const list = this.#in(picked);
          ready = await tx.db.all<RunRow>(`UPDATE runs SET ${CLAIM_SET} WHERE id ${list.sql} RETURNING *`, [
            ...claimParams,
            ...list.params,
          ]);
        }
      }
      const claimed = [...takeovers, ...ready];
      if (claimed.length === 0) return { runs: [], nextWakeAt: await this.#nextWakeAt(tx.db, tx.now, p.namespace) };

      // A run claimed for the first time (token 1) has recorded nothing yet: only replays read steps.
      const replays = claimed.filter((r) => r.lease_token > 1).map((r) => r.id);
      const list = this.#in(replays);
      const short = claimed.length < p.limit;
      const [steps, nextWakeAt] = await Promise.all([
        replays.length > 0
          ? tx.db.all<StepRow>(`SELECT * FROM steps WHERE run_id ${list.sql} ORDER BY run_id, seq, name`, list.params)
          : [],
        // A full batch means the worker comes straight back; only a short one needs the next timer.
        short ? this.#nextWakeAt(tx.db, tx.now, p.namespace) : null,
      ]);
      // Taken-over runs first (they waited longest), then claim order.
      const takenOver = new Set(takeovers.map((t) => t.id));
      claimed.sort(
        (a, b) =>
          Number(takenOver.has(b.id)) - Number(takenOver.has(a.id)) ||
          b.priority - a.priority ||
          (a.available_at ?? 0) - (b.available_at ?? 0) ||
          (a.id < b.id ? -1 : 1),
      );
      const byRun = new Map<string, Step[]>();
      for (const s of steps) {
        let bucket = byRun.get(s.run_id);
        if (!bucket) byRun.set(s.run_id, (bucket = []));
        bucket.push(rowToStep(s));
      }
      const runs: ClaimedRun[] = claimed.map((r) => ({ run: rowToRun(r), steps: byRun.get(r.id) ?? [] }));
      return { runs, nextWakeAt };
    });
  }

  /**
   * Picks up to `room` ready runs across several queues, or within a queue's limits, merged in
   * claim order. A limited queue is counted under its advisory lock (PostgreSQL), so two claimers
   * never both take its last free slot.
   */
  async #pickReady(
    tx: Tx,
    p: Readonly<ClaimRunsParams>,
    queueNames: readonly string[],
    settings: readonly QueueRow[],
    room: number,
  ): Promise<string[]> {
    const limits = new Map(settings.map((s) => [s.name, s]));
    const candidates: { id: string; priority: number; available_at: number }[] = [];
    // Limited queues take their advisory locks in name order, so claimers never deadlock.
    for (const queue of [...queueNames].sort()) {
      const s = limits.get(queue);
      if (s === undefined) {
        candidates.push(...(await this.#readyRuns(tx, p, queue, room, [])));
        continue;
      }
      if (this.dialect === "postgres") {
        await tx.db.all("SELECT pg_advisory_xact_lock(1, hashtext(?::text))", [`${p.namespace}/${queue}`]);
      }
      const counts = await tx.db.all<{ concurrency_key: string | null; n: number }>(
        `SELECT concurrency_key, COUNT(*) AS n FROM runs WHERE lease_owner IS NOT NULL AND namespace = ? AND queue = ?
         GROUP BY concurrency_key`,
        [p.namespace, queue],
      );
      const leased = counts.reduce((sum, c) => sum + Number(c.n), 0);
      const capacity = s.concurrency_limit === null ? room : Math.min(room, s.concurrency_limit - leased);
      if (capacity <= 0) continue;
      const perKey = new Map(
        counts.filter((c) => c.concurrency_key !== null).map((c) => [c.concurrency_key as string, Number(c.n)]),
      );
      const keyLimit = s.key_concurrency_limit;
      const full = keyLimit === null ? [] : [...perKey].filter(([, n]) => n >= keyLimit).map(([k]) => k);
      // With a key limit, look further than `capacity`: runs of a key that fills up are skipped.
      const fetch = keyLimit === null ? capacity : Math.min(capacity * 4 + 16, 1000);
      let taken = 0;
      for (const run of await this.#readyRuns(tx, p, queue, fetch, full)) {
        if (taken >= capacity) break;
        if (keyLimit !== null && run.concurrency_key !== null) {
          const n = perKey.get(run.concurrency_key) ?? 0;
          if (n >= keyLimit) continue;
          perKey.set(run.concurrency_key, n + 1);
        }
        candidates.push(run);
        taken++;
      }
    }
    candidates.sort((a, b) => b.priority - a.priority || a.available_at - b.available_at || (a.id < b.id ? -1 : 1));
    return candidates.slice(0, room).map((c) => c.id);
  }

  async #readyRuns(
    tx: Tx,
    p: Readonly<ClaimRunsParams>,
    queue: string,
    limit: number,
    excludeKeys: readonly string[],
  ): Promise<{ id: string; priority: number; available_at: number; concurrency_key: string | null }[]> {
    const names = p.names === undefined ? undefined : this.#in(p.names);
    const exclude = excludeKeys.length === 0 ? undefined : this.#in(excludeKeys);
    return tx.db.all(
      `SELECT id, priority, available_at, concurrency_key FROM runs
       WHERE lease_owner IS NULL AND status IN ('queued', 'cancelling', 'compensating')
         AND namespace = ? AND queue = ? AND available_at <= ?${names === undefined ? "" : ` AND name ${names.sql}`}${
           exclude === undefined ? "" : ` AND (concurrency_key IS NULL OR NOT (concurrency_key ${exclude.sql}))`
         }
       ORDER BY priority DESC, available_at, id LIMIT ?${this.#skipLocked}`,
      [p.namespace, queue, tx.now, ...(names?.params ?? []), ...(exclude?.params ?? []), limit],
    );
  }

  async extendLeases(p: Readonly<ExtendLeasesParams>): Promise<ExtendLeasesResult> {
    if (p.leases.length === 0) return { lost: [], cancelRequested: [] };
    return this.#tx(async (tx) => {
      const src = rowsSource(
        this.dialect,
        [
          ["rid", "text"],
          ["tok", "bigint"],
        ],
        p.leases.map((l) => [l.runId, l.leaseToken]),
      );
      const kept = await tx.db.all<{ id: string; cancel_requested: number }>(
        `UPDATE runs AS t SET lease_expires_at = ? FROM ${src.sql}
         WHERE t.id = v.rid AND t.lease_token = v.tok AND t.lease_owner = ? AND t.status NOT IN ${TERMINAL}
         RETURNING id, cancel_requested`,
        [tx.now + p.leaseMs, ...src.params, p.owner],
      );
      const alive = new Set(kept.map((k) => k.id));
      return {
        lost: unique(p.leases.map((l) => l.runId).filter((id) => !alive.has(id))),
        cancelRequested: kept.filter((k) => k.cancel_requested === 1).map((k) => k.id),
      };
    });
  }

  async saveSteps(p: Readonly<{ steps: readonly SaveStepParams[] }>): Promise<WriteResult[]> {
    if (p.steps.length === 0) return [];
    return this.#tx(async (tx) => {
      const runs = await this.#lockRuns(
        tx,
        p.steps.map((s) => s.runId),
      );
      const existing = await this.#existingSteps(
        tx,
        [...runs.keys()],
        p.steps.map((s) => s.name),
      );
      const results: WriteResult[] = [];
      const pending = new Map<string, { row: StepRow; items: number[] }>();
      for (const [i, item] of p.steps.entries()) {
        const run = runs.get(item.runId);
        const lost = this.#fence(run, item);
        if (lost) {
          results.push({ ok: false, error: lost });
          continue;
        }
        const key = `${item.runId}\u0000${item.name}`;
        const prev = pending.get(key)?.row ?? existing.get(key);
        if (prev && isStepSettled(prev.status as StepStatus)) {
          results.push({ ok: false, error: alreadyRecorded(item.runId, item.name, prev.status) });
          continue;
        }
        let row: StepRow;
        try {
          row = this.#stepRow(item, tx.now, prev);
        } catch (error) {
          results.push({ ok: false, error: toSerialized(error) });
          continue;
        }
        const entry = pending.get(key);
        pending.set(key, { row, items: [...(entry?.items ?? []), i] });
        results.push({ ok: true, cancelRequested: run?.cancel_requested === 1 });
      }
      if (pending.size === 0) return results;
      const written = await this.#upsertSteps(
        tx,
        [...pending.values()].map((e) => e.row),
      );
      const waitsToDrop: StepRow[] = [];
      for (const [key, { row, items }] of pending) {
        if (!written.has(key)) {
          // Settled by another transaction (an event or a child) since we read it.
          for (const i of items) results[i] = { ok: false, error: alreadyRecorded(row.run_id, row.name, "settled") };
        } else if (
          isStepSettled(row.status as StepStatus) &&
          (row.type === "event" || existing.get(key)?.type === "event")
        ) {
          waitsToDrop.push(row);
        }
      }
      if (waitsToDrop.length > 0) {
        const src = rowsSource(
          this.dialect,
          [
            ["rid", "text"],
            ["sname", "text"],
          ],
          waitsToDrop.map((w) => [w.run_id, w.name]),
        );
        await tx.db.run(
          `DELETE FROM event_waits WHERE EXISTS (SELECT 1 FROM ${src.sql}
             WHERE v.rid = event_waits.run_id AND v.sname = event_waits.step_name)`,
          src.params,
        );
      }
      return results;
    });
  }

  async #existingSteps(tx: Tx, runIds: readonly string[], names: readonly string[]): Promise<Map<string, StepRow>> {
    if (runIds.length === 0) return new Map();
    const ids = this.#in(runIds);
    const list = this.#in(unique(names));
    const rows = await tx.db.all<StepRow>(`SELECT * FROM steps WHERE run_id ${ids.sql} AND name ${list.sql}`, [
      ...ids.params,
      ...list.params,
    ]);
    return new Map(rows.map((r) => [`${r.run_id}\u0000${r.name}`, r]));
  }

  #stepRow(item: Readonly<SaveStepParams>, now: number, prev: StepRow | undefined): StepRow {
    const settled = isStepSettled(item.status);
    return {
      run_id: item.runId,
      name: item.name,
      seq: item.seq,
      type: item.type,
      status: item.status,
      output: item.output === undefined ? null : this.#encode(item.output, `output of step "${item.name}"`),
      error: item.error ? this.#encodeError(item.error) : null,
      attempt: item.attempt ?? 1,
      wake_at: item.wakeAt ?? null,
      child_run_id: prev?.child_run_id ?? null,
      event_name: prev?.event_name ?? null,
      event_key: prev?.event_key ?? null,
      compensable: item.compensable ? 1 : 0,
      started_at: prev?.started_at ?? item.startedAt ?? now,
      finished_at: settled ? now : null,
    };
  }

  /** Inserts or updates steps that are not settled; returns the keys actually written. */
  async #upsertSteps(tx: Tx, rows: readonly StepRow[]): Promise<Set<string>> {
    const src = rowsSource(
      this.dialect,
      STEP_SOURCE_COLUMNS,
      rows.map((r) => STEP_COLUMNS.map((c) => r[c])),
    );
    const cols = STEP_COLUMNS.join(", ");
    const updates = STEP_COLUMNS.filter((c) => c !== "run_id" && c !== "name" && c !== "started_at")
      .map((c) => `${c} = excluded.${c}`)
      .join(", ");
    const written = await tx.db.all<{ run_id: string; name: string }>(
      `INSERT INTO steps (${cols}) SELECT ${cols} FROM ${src.sql} WHERE true
       ON CONFLICT (run_id, name) DO UPDATE SET ${updates} WHERE steps.status NOT IN ${SETTLED}
       RETURNING run_id, name`,
      src.params,
    );
    return new Set(written.map((w) => `${w.run_id}\u0000${w.name}`));
  }

  async startChildRun(p: Readonly<StartChildRunParams>): Promise<WriteResult & { readonly childRunId?: string }> {
    return this.#tx(async (tx) => {
      const runs = await this.#lockRuns(tx, [p.runId]);
      const parent = runs.get(p.runId);
      const lost = this.#fence(parent, p);
      if (lost || parent === undefined) return { ok: false, error: lost ?? leaseLost(p, parent) };
      const cancelRequested = parent.cancel_requested === 1;
      const [step] = await tx.db.all<StepRow>("SELECT * FROM steps WHERE run_id = ? AND name = ?", [
        p.runId,
        p.stepName,
      ]);
      if (step) {
        return step.child_run_id === null
          ? { ok: true, cancelRequested }
          : { ok: true, cancelRequested, childRunId: step.child_run_id };
      }
      let childRow: RunRow;
      try {
        childRow = this.#newRunRow(
          {
            ...p.child,
            namespace: parent.namespace,
            idempotencyKey: `${parent.id}/${p.stepName}`,
            parentRunId: parent.id,
            parentStepName: p.stepName,
            rootRunId: parent.root_run_id,
          },
          tx.now,
        );
      } catch (error) {
        return { ok: false, error: toSerialized(error) };
      }
      const [result] = await this.#insertRuns(tx, [childRow]);
      const child = (result as StartRunResult).run;
      await this.#insertStep(tx, {
        run_id: parent.id,
        name: p.stepName,
        seq: p.seq,
        type: "child",
        status: "waiting",
        output: null,
        error: null,
        attempt: 1,
        wake_at: null,
        child_run_id: child.id,
        event_name: null,
        event_key: null,
        compensable: 0,
        started_at: tx.now,
        finished_at: null,
      });
      if (isTerminal(child.status)) {
        // The child existed and already ended (its step had been forgotten): settle at once.
        const ended = await this.#lockRuns<{ output: string | null }>(tx, [child.id], ", output");
        await this.#settleTerminal(tx, [...ended.values()]);
      }
      return { ok: true, cancelRequested, childRunId: child.id };
    });
  }

  async #insertStep(tx: Tx, row: StepRow): Promise<void> {
    await tx.db.run(
      `INSERT INTO steps (${STEP_COLUMNS.join(", ")}) VALUES (${STEP_COLUMNS.map(() => "?").join(", ")})`,
      STEP_COLUMNS.map((c) => row[c]),
    );
  }

  async awaitEvent(p: Readonly<AwaitEventParams>): Promise<WriteResult & { readonly step?: Step }> {
    return this.#tx(async (tx) => {
      // The event-name lock comes before the run's row lock, as in sendEvent.
      const [owner] = await tx.db.all<{ namespace: string }>("SELECT namespace FROM runs WHERE id = ?", [p.runId]);
      if (owner) await this.#lockEventName(tx, owner.namespace, p.eventName);
      const run = (await this.#lockRuns(tx, [p.runId])).get(p.runId);
      const lost = this.#fence(run, p);
      if (lost || run === undefined) return { ok: false, error: lost ?? leaseLost(p, run) };
      const cancelRequested = run.cancel_requested === 1;
      const [existing] = await tx.db.all<StepRow>("SELECT * FROM steps WHERE run_id = ? AND name = ?", [
        p.runId,
        p.stepName,
      ]);
      if (existing) return { ok: true, cancelRequested, step: rowToStep(existing) };
      const key = p.key ?? null;
      const [event] = await tx.db.all<{ id: string; payload: string | null }>(
        `SELECT id, payload FROM events WHERE consumed_by IS NULL AND namespace = ? AND name = ? AND expires_at > ?${
          key === null ? "" : " AND key = ?"
        } ORDER BY created_at, id LIMIT 1`,
        key === null ? [run.namespace, p.eventName, tx.now] : [run.namespace, p.eventName, tx.now, key],
      );
      const row: StepRow = {
        run_id: p.runId,
        name: p.stepName,
        seq: p.seq,
        type: "event",
        status: event ? "completed" : "waiting",
        output: event ? (event.payload ?? "null") : null,
        error: null,
        attempt: 1,
        wake_at: event ? null : (p.timeoutAt ?? null),
        child_run_id: null,
        event_name: p.eventName,
        event_key: key,
        compensable: 0,
        started_at: tx.now,
        finished_at: event ? tx.now : null,
      };
      if (event) {
        await tx.db.run("UPDATE events SET consumed_by = ?, consumed_at = ? WHERE id = ?", [p.runId, tx.now, event.id]);
      } else {
        await tx.db.run(
          `INSERT INTO event_waits (run_id, step_name, wait_id, namespace, event_name, event_key, timeout_at, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [p.runId, p.stepName, newId(), run.namespace, p.eventName, key, p.timeoutAt ?? null, tx.now],
        );
      }
      await this.#insertStep(tx, row);
      return { ok: true, cancelRequested, step: rowToStep(row) };
    });
  }

  async finishRuns(p: Readonly<{ items: readonly FinishRunParams[] }>): Promise<WriteResult[]> {
    if (p.items.length === 0) return [];
    return this.#tx(async (tx) => {
      const runs = await this.#lockRuns(
        tx,
        p.items.map((i) => i.runId),
      );
      const results: WriteResult[] = [];
      const changed = new Map<string, WorkRow>();
      const retried: string[] = [];
      for (const item of p.items) {
        const run = runs.get(item.runId);
        const lost = this.#fence(run, item);
        if (lost || run === undefined) {
          results.push({ ok: false, error: lost ?? leaseLost(item, run) });
          continue;
        }
        let next: WorkRow;
        try {
          next = this.#finished(run, item, tx.now);
        } catch (error) {
          results.push({ ok: false, error: toSerialized(error) });
          continue;
        }
        runs.set(run.id, next);
        changed.set(run.id, next);
        if (item.outcome === "fail" && item.retryAt !== undefined) retried.push(run.id);
        results.push({ ok: true, cancelRequested: run.cancel_requested === 1 });
      }
      const rows = [...changed.values()];
      const terminal = rows.filter((r) => isTerminal(r.status as RunStatus));
      // The writes below are independent of each other: issued together (pipelined on PostgreSQL).
      const retriedList = this.#in(retried);
      await settleAll([
        this.#writeRuns(tx, rows),
        // A retry is a new attempt: failed steps run again, completed ones are replayed.
        retried.length > 0
          ? tx.db.run(`DELETE FROM steps WHERE run_id ${retriedList.sql} AND status = 'failed'`, retriedList.params)
          : undefined,
        this.#settleTerminal(tx, terminal),
      ]);
      for (const r of rows) {
        const claimable = r.status === "queued" || r.status === "cancelling" || r.status === "compensating";
        if (claimable && r.available_at !== null && r.available_at <= tx.now) this.#markReady(tx, r.namespace, r.queue);
      }
      const timedOut = terminal.filter((r) => r.status === "timed_out").map((r) => r.id);
      if (timedOut.length > 0)
        await this.#cancelRuns(tx, await this.#descendants(tx, timedOut), "the parent run timed out");
      return results;
    });
  }

  /** The run after one finishRuns item (the lease is always given back). */
  #finished(run: WorkRow, item: Readonly<FinishRunParams>, now: number): WorkRow {
    const base: WorkRow = { ...run, lease_owner: null, lease_expires_at: null, wake_requested: 0, updated_at: now };
    const end = (status: RunStatus, error: string | null): WorkRow => ({
      ...base,
      status,
      error,
      available_at: null,
      finished_at: now,
    });
    switch (item.outcome) {
      case "complete":
        return { ...end("completed", null), output: this.#encode(item.output, `output of run ${run.id}`) };
      case "fail": {
        const error = this.#encodeError(item.error);
        if (item.retryAt !== undefined) {
          return { ...base, status: "queued", error, attempt: run.attempt + 1, available_at: item.retryAt };
        }
        if (item.compensate) return { ...base, status: "compensating", error, available_at: now };
        return end("failed", error);
      }
      case "park": {
        // A cancellation must go on: the run stays claimable instead of sleeping.
        if (run.status === "cancelling") return { ...base, available_at: now };
        const woken = run.wake_requested === 1 || (item.wakeAt !== null && item.wakeAt <= now);
        if (run.status === "compensating") return { ...base, available_at: woken ? now : item.wakeAt };
        return woken
          ? { ...base, status: "queued", available_at: now }
          : { ...base, status: item.status, available_at: item.wakeAt };
      }
      case "release":
        return { ...base, status: run.status === "running" ? "queued" : run.status, available_at: now };
      case "cancelled":
        return end("cancelled", item.error ? this.#encodeError(item.error) : run.error);
      case "compensated":
        return end("compensated", item.error ? this.#encodeError(item.error) : run.error);
      case "timed_out":
        return end("timed_out", this.#encodeError(item.error));
    }
  }

  async updateRuns(p: Readonly<{ items: readonly UpdateRunParams[] }>): Promise<WriteResult[]> {
    if (p.items.length === 0) return [];
    return this.#tx(async (tx) => {
      const runs = await this.#lockRuns<{ state: string; progress: string | null }>(
        tx,
        p.items.map((i) => i.runId),
        ", state, progress",
      );
      const values = new Map([...runs.values()].map((r) => [r.id, { state: r.state, progress: r.progress }]));
      const changed = new Set<string>();
      const results: WriteResult[] = [];
      for (const item of p.items) {
        const run = runs.get(item.runId);
        const lost = this.#fence(run, item);
        const value = values.get(item.runId);
        if (lost || run === undefined || value === undefined) {
          results.push({ ok: false, error: lost ?? leaseLost(item, run) });
          continue;
        }
        try {
          const state = JSON.parse(value.state) as Record<string, string>;
          for (const [k, v] of Object.entries(item.state ?? {})) {
            if (v === null) delete state[k];
            else state[k] = String(v);
          }
          const encoded = this.#encode(state, `state of run ${item.runId}`);
          const progress = item.progress === undefined ? value.progress : this.#encodeProgress(item.progress);
          values.set(item.runId, { state: encoded, progress });
        } catch (error) {
          results.push({ ok: false, error: toSerialized(error) });
          continue;
        }
        changed.add(item.runId);
        results.push({ ok: true, cancelRequested: run.cancel_requested === 1 });
      }
      if (changed.size > 0) {
        const src = rowsSource(
          this.dialect,
          [
            ["id", "text"],
            ["state", "text"],
            ["progress", "text"],
          ],
          [...changed].map((id) => [id, values.get(id)?.state ?? "{}", values.get(id)?.progress ?? null]),
        );
        await tx.db.run(
          `UPDATE runs AS t SET state = v.state, progress = v.progress, updated_at = ? FROM ${src.sql} WHERE t.id = v.id`,
          [tx.now, ...src.params],
        );
      }
      return results;
    });
  }

  #encodeProgress(progress: NonNullable<UpdateRunParams["progress"]>): string {
    const percent = progress.percent;
    if (percent !== null && !(typeof percent === "number" && Number.isFinite(percent))) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected progress "percent" to be a number or null, got ${JSON.stringify(percent)}`,
      );
    }
    return this.#encode({ percent, message: progress.message ?? null }, "progress");
  }

  // ── logs ────────────────────────────────────────────────────────────────────────────────────

  async appendLogs(p: Readonly<{ entries: readonly LogEntryInput[] }>): Promise<void> {
    if (p.entries.length === 0) return;
    const now = this.#clock();
    const src = rowsSource(
      this.dialect,
      [
        ["run_id", "text"],
        ["attempt", "bigint"],
        ["step_name", "text"],
        ["level", "text"],
        ["message", "text"],
        ["ts", "bigint"],
      ],
      p.entries.map((e) => [e.runId, e.attempt, e.stepName ?? null, e.level, e.message, e.ts ?? now]),
    );
    await this.driver.run(
      `INSERT INTO logs (run_id, attempt, step_name, level, message, ts)
       SELECT run_id, attempt, step_name, level, message, ts FROM ${src.sql}`,
      src.params,
    );
  }

  async listLogs(p: Readonly<{ runId: string; afterSeq?: number; limit?: number }>): Promise<LogEntry[]> {
    const limit = Math.min(Math.max(Math.floor(p.limit ?? 1000), 1), 10_000);
    const rows = await this.driver.all<LogRow>("SELECT * FROM logs WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?", [
      p.runId,
      p.afterSeq ?? 0,
      limit,
    ]);
    return rows.map(rowToLog);
  }

  // ── housekeeping ────────────────────────────────────────────────────────────────────────────

  async sweep(p: Readonly<{ limit?: number }> = {}): Promise<SweepResult> {
    const limit = Math.max(1, Math.floor(p.limit ?? 1000));
    return this.#tx(async (tx) => {
      const due = await tx.db.all<WorkRow>(
        `SELECT ${WORK_SELECT} FROM runs
         WHERE deadline_at IS NOT NULL AND status NOT IN ${TERMINAL} AND deadline_at <= ?
           AND (lease_owner IS NULL OR lease_expires_at <= ?)
         ORDER BY deadline_at LIMIT ?${this.#skipLocked}`,
        [tx.now, tx.now, limit],
      );
      const timedOut = due.map(
        (r): WorkRow => ({
          ...r,
          status: "timed_out",
          error: this.#encodeError({
            code: "RUN_TIMEOUT",
            message: `Run ${r.id} did not finish before its deadline`,
            retryable: false,
          }),
          lease_owner: null,
          lease_expires_at: null,
          available_at: null,
          wake_requested: 0,
          finished_at: tx.now,
          updated_at: tx.now,
        }),
      );
      await this.#writeRuns(tx, timedOut);
      await this.#settleTerminal(tx, timedOut);
      if (timedOut.length > 0) {
        const children = await this.#descendants(
          tx,
          timedOut.map((r) => r.id),
        );
        await this.#cancelRuns(tx, children, "the parent run timed out");
      }
      const woken = await tx.db.all<{ namespace: string; queue: string }>(
        `UPDATE runs SET status = 'queued', available_at = ?, updated_at = ?
         WHERE id IN (SELECT id FROM runs WHERE status IN ('sleeping', 'waiting') AND available_at <= ?
                      LIMIT ?${this.#skipLocked})
         RETURNING namespace, queue`,
        [tx.now, tx.now, tx.now, limit],
      );
      for (const w of woken) this.#markReady(tx, w.namespace, w.queue);
      // Events past their retention go, delivered or not: retention bounds how long any is kept.
      const eventsDeleted = await tx.db.run(
        `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE expires_at <= ? LIMIT ?${this.#skipLocked})`,
        [tx.now, limit],
      );
      return { timedOut: timedOut.length, woken: woken.length, eventsDeleted };
    });
  }

  async getNextWakeAt(p: Readonly<{ namespace?: string }>): Promise<number | null> {
    return this.#nextWakeAt(this.driver, this.#clock(), p.namespace);
  }

  async subscribe(listener: (n: StoreNotification) => void): Promise<() => Promise<void>> {
    return this.driver.listen(RUNS_CHANNEL, (payload) => {
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

  async close(): Promise<void> {
    await this.driver.close();
  }
}

/**
 * Awaits independent statements issued together (PostgreSQL pipelines them) and fails with the
 * first error only once all have settled, so that none runs on after its transaction ended.
 */
async function settleAll(work: readonly (Promise<unknown> | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

function alreadyRecorded(runId: string, name: string, status: string): SerializedError {
  return {
    code: "STEP_ALREADY_RECORDED",
    message: `Step "${name}" of run ${runId} is already recorded (${status}); a step result is written once`,
  };
}
