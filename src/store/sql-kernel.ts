import { replaceNulInJson } from "../engine/free-text.ts";
import { KilnError, type SerializedError } from "../errors.ts";
import { newRunId } from "../engine/ids.ts";
import { DEFAULT_MAX_PAYLOAD_BYTES, encodePayload } from "../engine/payload.ts";
import type { Run } from "../engine/run.ts";
import type { Lease } from "../engine/lease.ts";
import { isTerminal, type RunStatus, SETTLED_STEP_STATUSES, TERMINAL_RUN_STATUSES } from "../engine/status.ts";
import {
  nextRunStatus,
  PARKED_RUN_STATUSES,
  READY_RUN_STATUSES,
  statusesAllowing,
  statusesRefusing,
} from "../engine/run-transitions.ts";
import {
  type ColumnType,
  inList,
  rowsSource,
  type SqlDriver,
  type SqlFragment,
  type SqlScalar,
  type SqlTransaction,
} from "./sql-driver.ts";
import { RUN_COLUMNS, RUN_INTEGER_COLUMNS, type RunRow, rowToRun, type StepRow } from "./sql-rows.ts";
import type { StoreOptions } from "./store.ts";
import type { StartRunParams, StartRunResult } from "../engine/start-run.ts";

/** The notification channel for "runs became claimable". */
export const RUNS_CHANNEL = "kiln_runs";
/** The notification channel for "runs reached a terminal status" (PostgreSQL, across processes). */
export const RUN_ENDS_CHANNEL = "kiln_run_ends";
/** Run ids per run-end notification: PostgreSQL caps a payload at 8,000 bytes. */
const RUN_ENDS_PER_NOTE = 100;

const sqlList = (values: readonly string[]) => `(${values.map((v) => `'${v}'`).join(", ")})`;
/** The terminal run statuses, as an SQL list (from engine/status.ts). */
export const TERMINAL = sqlList(TERMINAL_RUN_STATUSES);
/** The settled step statuses, as an SQL list (from engine/status.ts). */
export const SETTLED = sqlList(SETTLED_STEP_STATUSES);
/** Parked run statuses (the runs_timers index), as an SQL list (from engine/run-transitions.ts). */
export const PARKED = sqlList(PARKED_RUN_STATUSES);
/** Statuses a claim takes unleased runs from (the runs_ready index), as an SQL list (from engine/run-transitions.ts). */
export const READY = sqlList(READY_RUN_STATUSES);
/** Statuses past whose deadline a run is not timed out (terminal, or already winding down). */
export const NO_TIMEOUT = sqlList(statusesRefusing("timeout"));
/** Where a woken parked run goes. */
export const WOKEN = `'${nextRunStatus("sleeping", "wake")}'`;
/** How many due parked runs one claim or sweep wakes at most. */
export const WAKE_BATCH = 1000;

/** The columns of a run that fenced writes read (and lock) to decide what to write. */
export const WORK_COLUMNS = [
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
/** A column of WORK_COLUMNS. */
export type WorkColumn = (typeof WORK_COLUMNS)[number];
/** A run as fenced writes see it; `output` is set only when a write produces one. */
export type WorkRow = Pick<RunRow, WorkColumn> & { output?: string | null };
/** WORK_COLUMNS as a select list. */
export const WORK_SELECT = WORK_COLUMNS.join(", ");
/** What a state transition writes back (everything in WorkRow that may change, plus output). */
export const TRANSITION_COLUMNS: readonly WorkColumn[] = [
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

/** The columns of `steps`, in table order. */
export const STEP_COLUMNS = [
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
/** Integer columns of `steps`, for typed batch parameters. */
export const STEP_INTEGER_COLUMNS: ReadonlySet<string> = new Set([
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
export const UNINDEXED_NAMESPACE = "COALESCE(namespace, '')";

/** The statuses a claim turns `compensating` only when the run has something to undo. */
const claimStartsCompensating = statusesAllowing("claim_compensable", "compensating").filter(
  (s) => nextRunStatus(s, "claim") !== "compensating",
);

/**
 * What a claim sets (engine/run-transitions.ts): a queued run starts running; a cancelling run with compensable completed
 * steps starts compensating (the saga: cancelling → compensating → compensated); any other keeps
 * its status.
 */
export const CLAIM_SET = `status = CASE WHEN status IN ${sqlList(statusesAllowing("claim", "running"))} THEN 'running'
    WHEN status IN ${sqlList(claimStartsCompensating)} AND EXISTS (SELECT 1 FROM steps WHERE steps.run_id = runs.id
      AND steps.compensable = 1 AND steps.status = 'completed') THEN 'compensating'
    ELSE status END,
  attempt = CASE WHEN lease_owner IS NOT NULL AND type = 'task' THEN attempt + 1 ELSE attempt END,
  lease_owner = ?, lease_expires_at = ?, lease_token = lease_token + 1, started_at = COALESCE(started_at, ?),
  wake_requested = 0, updated_at = ?`;

/** The payload of a notification on the runs channel (a timer when `at` is set). */
export interface ReadyNote {
  readonly namespace: string;
  readonly queue: string;
  readonly at?: number;
}

/** One transaction of the store: the connection, its instant, and the queues it made ready. */
export interface Tx {
  readonly db: SqlTransaction;
  readonly now: number;
  /** Queues made ready, and the earliest new timer per queue (with `at`), notified at commit. */
  readonly ready: Map<string, ReadyNote>;
  /** Runs this transaction made terminal (or may have: a hint), announced at commit. */
  readonly ended: string[];
  /** Whether commit() was called: the notifications left with COMMIT. */
  committed: boolean;
}

/** A batch column with its PostgreSQL array type. */
export function column(name: string, integers: ReadonlySet<string>): readonly [string, ColumnType] {
  return [name, integers.has(name) ? "bigint" : "text"];
}

/** Every `runs` column as a batch column (inserts). */
export const RUN_SOURCE_COLUMNS = RUN_COLUMNS.map((c) => column(c, RUN_INTEGER_COLUMNS));
/** Every `steps` column as a batch column (upserts). */
export const STEP_SOURCE_COLUMNS = STEP_COLUMNS.map((c) => column(c, STEP_INTEGER_COLUMNS));

/** The distinct values, in first-seen order. */
export function unique<T>(values: Iterable<T>): T[] {
  return [...new Set(values)];
}

/** The LEASE_LOST error of a fenced write, saying why the lease is not valid. */
export function leaseLost(lease: Lease, row: WorkRow | undefined): SerializedError {
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

/** A per-item error result from a KilnError (payload too large …); anything else is rethrown. */
export function toSerialized(error: unknown): SerializedError {
  if (error instanceof KilnError) return { code: error.code, message: error.message };
  throw error;
}

/**
 * What the SQL store's parts share: the driver and options, the transaction wrapper, dialect
 * fragments, payload encoding, and the row-level primitives of fenced writes (lock, fence, write
 * back). Internal to src/store: SqlStore is the public face.
 */
export class SqlKernel {
  readonly dialect: "sqlite" | "postgres";
  readonly driver: SqlDriver;
  readonly clock: () => number;
  readonly maxPayloadBytes: number;
  /** PostgreSQL row locks: readers that decide on a row hold it until commit. */
  readonly forUpdate: string;
  readonly skipLocked: string;

  constructor(driver: SqlDriver, options: Readonly<StoreOptions> = {}) {
    this.driver = driver;
    this.dialect = driver.dialect;
    this.clock = options.clock ?? Date.now;
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const pg = driver.dialect === "postgres";
    this.forUpdate = pg ? " FOR UPDATE" : "";
    this.skipLocked = pg ? " FOR UPDATE SKIP LOCKED" : "";
  }

  // ── plumbing ────────────────────────────────────────────────────────────────────────────────

  /** In-process listeners of run ends, told right after the commit that ended the runs. */
  readonly runEnds = new Set<(runIds: readonly string[]) => void>();

  /**
   * Runs `fn` in one transaction on the store clock's instant; notifies ready queues and ended
   * runs at commit.
   */
  async tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    let ended: readonly string[] = [];
    const result = await this.driver.transaction(async (db) => {
      const tx: Tx = { db, now: this.clock(), ready: new Map(), ended: [], committed: false };
      const value = await fn(tx);
      if (!tx.committed) await this.#sendReady(tx);
      ended = tx.ended; // a retried transaction function leaves only its last attempt's list
      return value;
    });
    if (ended.length > 0) this.#announceEnds(ended);
    return result;
  }

  async #sendReady(tx: Tx): Promise<void> {
    const notes = [...tx.ready.values()].map((note) => tx.db.notify(RUNS_CHANNEL, JSON.stringify(note)));
    // Other processes learn of run ends through PostgreSQL; this one is told after the commit.
    if (this.dialect === "postgres") {
      for (let i = 0; i < tx.ended.length; i += RUN_ENDS_PER_NOTE) {
        const runIds = tx.ended.slice(i, i + RUN_ENDS_PER_NOTE);
        notes.push(tx.db.notify(RUN_ENDS_CHANNEL, JSON.stringify({ runIds })));
      }
    }
    await Promise.all(notes);
  }

  #announceEnds(runIds: readonly string[]): void {
    for (const listener of [...this.runEnds]) {
      try {
        listener(runIds);
      } catch {
        // A listener's failure is its own; the commit already happened.
      }
    }
  }

  /** Records that runs may have reached a terminal status (announced when the transaction commits). */
  markEnded(tx: Tx, runIds: readonly string[]): void {
    if (tx.committed) throw new Error("markEnded after commit: the notification would not be sent");
    tx.ended.push(...runIds);
  }

  /**
   * Commits with the statements issued so far, before reading their results (see
   * SqlTransaction.commit): the ready queues marked until now are notified.
   */
  commit(tx: Tx): void {
    this.#sendReady(tx).catch(() => {}); // queued synchronously; a failure shows in commit()
    tx.committed = true;
    tx.db.commit();
  }

  /** `IN (…)` over one list parameter (see inList). */
  list(values: readonly SqlScalar[], type: ColumnType = "text"): SqlFragment {
    return inList(this.dialect, values, type);
  }

  /** Records that runs of this queue became claimable (notified when the transaction commits). */
  markReady(tx: Tx, namespace: string, queue: string): void {
    tx.ready.set(`${namespace}\u0000${queue}`, { namespace, queue });
  }

  /**
   * Records that a run of this queue becomes due at `at` (notified at commit, the earliest per
   * queue): waiters that sleep until a timer they knew of (a worker's long-poll claim on a
   * server) wake for this one instead of sleeping past it.
   */
  markTimer(tx: Tx, namespace: string, queue: string, at: number): void {
    const key = `${namespace}\u0000${queue}\u0000timer`;
    const known = tx.ready.get(key)?.at;
    if (known === undefined || at < known) tx.ready.set(key, { namespace, queue, at });
  }

  /** Serializes both sides of an event pairing (PostgreSQL; SQLite transactions are serial). */
  async lockEventName(tx: Tx, namespace: string, name: string): Promise<void> {
    if (this.dialect !== "postgres") return;
    await tx.db.all("SELECT pg_advisory_xact_lock(2, hashtext(?::text))", [`${namespace}/${name}`]);
  }

  /** A payload as JSON text, within the size cap (PAYLOAD_TOO_LARGE otherwise). */
  encode(value: unknown, what: string): string {
    return encodePayload(value, what, this.maxPayloadBytes);
  }

  /** Errors are always recorded: an oversized one loses its stack, data and message tail. */
  encodeError(error: SerializedError): string {
    const text = replaceNulInJson(JSON.stringify(error));
    if (Buffer.byteLength(text) <= this.maxPayloadBytes) return text;
    const room = Math.max(64, Math.floor(this.maxPayloadBytes / 4) - 256);
    const message = error.message.length > room ? `${error.message.slice(0, room)}… (truncated)` : error.message;
    return replaceNulInJson(
      JSON.stringify({
        code: error.code,
        message,
        ...(error.retryable === undefined ? {} : { retryable: error.retryable }),
      }),
    );
  }

  /**
   * ` AND <column> = ANY(keys)` on PostgreSQL, for a join with a batch (rowsSource): with a few
   * hundred rows the planner would rather hash-join over a scan of the whole table than probe the
   * index once per row; the key list makes it probe. SQLite already drives the join from the batch.
   */
  batchKeys(column: string, keys: readonly string[]): SqlFragment {
    if (this.dialect !== "postgres") return { sql: "", params: [] };
    return { sql: ` AND ${column} = ANY(?::text[])`, params: [unique(keys)] };
  }

  /** Reads (and on PostgreSQL locks, in id order) the runs a fenced write decides on. */
  async lockRuns<X extends object = object>(
    tx: Tx,
    ids: readonly string[],
    extra = "",
  ): Promise<Map<string, WorkRow & X>> {
    const list = this.list(unique(ids));
    const rows = await tx.db.all<WorkRow & X>(
      `SELECT ${WORK_SELECT}${extra} FROM runs WHERE id ${list.sql} ORDER BY id${this.forUpdate}`,
      list.params,
    );
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** LEASE_LOST unless the run holds a lease with exactly this token and is not finished. */
  fence(row: WorkRow | undefined, lease: Lease): SerializedError | null {
    if (row === undefined || row.lease_owner === null || isTerminal(row.status as RunStatus)) {
      return leaseLost(lease, row);
    }
    return row.lease_token === lease.leaseToken ? null : leaseLost(lease, row);
  }

  /** Writes the TRANSITION_COLUMNS (and output, when set) of changed runs in one statement. */
  async writeRuns(tx: Tx, rows: readonly WorkRow[]): Promise<void> {
    if (rows.length === 0) return;
    const columns = ["id", ...TRANSITION_COLUMNS, "output"];
    const src = rowsSource(
      this.dialect,
      columns.map((c) => column(c, RUN_INTEGER_COLUMNS)),
      rows.map((r) => [r.id, ...TRANSITION_COLUMNS.map((c) => r[c]), r.output ?? null]),
    );
    const sets = TRANSITION_COLUMNS.map((c) => `${c} = v.${c}`).join(", ");
    const keys = this.batchKeys(
      "t.id",
      rows.map((r) => r.id),
    );
    await tx.db.run(
      `UPDATE runs AS t SET ${sets}, output = COALESCE(v.output, t.output) FROM ${src.sql} WHERE t.id = v.id${keys.sql}`,
      [...src.params, ...keys.params],
    );
  }

  /** The earliest future timer: a parked run's wake-up or a delayed queued run. */
  async nextWakeAt(db: SqlTransaction | SqlDriver, now: number, namespace?: string): Promise<number | null> {
    const scope = namespace === undefined ? "" : ` AND ${UNINDEXED_NAMESPACE} = ?`;
    const args = namespace === undefined ? [now] : [now, namespace];
    const rows = await db.all<{ t: number | null }>(
      // ORDER BY … LIMIT 1 rather than MIN(): PostgreSQL then walks the index from the start and
      // stops at the first live row, where MIN() over a bitmap scan visits every entry (dead row
      // versions of woken runs included) each time.
      `SELECT MIN(t) AS t FROM (
         SELECT t FROM (SELECT available_at AS t FROM runs WHERE status IN ${PARKED} AND available_at > ?${scope}
                        ORDER BY available_at LIMIT 1) AS parked
         UNION ALL
         SELECT t FROM (SELECT available_at AS t FROM runs
                        WHERE status = 'queued' AND available_at > created_at AND available_at > ?${scope}
                        ORDER BY available_at LIMIT 1) AS delayed
       ) AS w`,
      [...args, ...args],
    );
    return rows[0]?.t ?? null;
  }

  // ── runs (client side) ──────────────────────────────────────────────────────────────────────

  /** A new run's row, validated and encoded (INVALID_INPUT, PAYLOAD_TOO_LARGE). */
  newRunRow(p: Readonly<StartRunParams>, now: number): RunRow {
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
      input: this.encode(p.input, `input of run "${p.name}"`),
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
      metadata: this.encode(p.metadata ?? {}, `metadata of run "${p.name}"`),
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
    };
  }

  /**
   * Inserts runs, resolving idempotency keys against existing runs (and earlier items). Runs in
   * `unannounced` are not notified as ready: a worker of this process takes them at once.
   */
  async insertRuns(tx: Tx, rows: readonly RunRow[], unannounced?: ReadonlySet<string>): Promise<StartRunResult[]> {
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
        const ready = row.available_at !== null && row.available_at <= tx.now;
        if (ready && !unannounced?.has(row.id)) this.markReady(tx, row.namespace, row.queue);
        else if (!ready && row.available_at !== null) this.markTimer(tx, row.namespace, row.queue, row.available_at);
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

  /** Reads (and locks) one run of a namespace for a client-side transition; RUN_NOT_FOUND. */
  async lockRunOf(tx: Tx, namespace: string, id: string): Promise<WorkRow> {
    const [row] = await tx.db.all<WorkRow>(
      `SELECT ${WORK_SELECT} FROM runs WHERE id = ? AND namespace = ?${this.forUpdate}`,
      [id, namespace],
    );
    if (!row) throw new KilnError("RUN_NOT_FOUND", `No run ${id} in namespace "${namespace}"`);
    return row;
  }

  /** The whole run, as the caller sees it after a transition. */
  async readRun(tx: Tx, id: string): Promise<Run> {
    const [row] = await tx.db.all<RunRow>("SELECT * FROM runs WHERE id = ?", [id]);
    if (!row) throw new KilnError("RUN_NOT_FOUND", `No run ${id}`);
    return rowToRun(row);
  }

  /** Inserts one step row. */
  async insertStep(tx: Tx, row: StepRow): Promise<void> {
    await tx.db.run(
      `INSERT INTO steps (${STEP_COLUMNS.join(", ")}) VALUES (${STEP_COLUMNS.map(() => "?").join(", ")})`,
      STEP_COLUMNS.map((c) => row[c]),
    );
  }
}

/**
 * Awaits independent statements issued together (PostgreSQL pipelines them) and fails with the
 * first error only once all have settled, so that none runs on after its transaction ended.
 */
export async function settleAll(work: readonly (Promise<unknown> | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

/** The STEP_ALREADY_RECORDED error of a second record of a settled step. */
export function alreadyRecorded(runId: string, name: string, status: string): SerializedError {
  return {
    code: "STEP_ALREADY_RECORDED",
    message: `Step "${name}" of run ${runId} is already recorded (${status}); a step result is written once`,
  };
}
