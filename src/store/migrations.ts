import { KilnError } from "../errors.ts";
import type { Dialect, SqlDriver } from "./sql-driver.ts";

/**
 * The schema of the SQL stores as numbered, append-only migrations. Never edit a migration that
 * has shipped: add the next number. The DDL is shared where both dialects accept it; `sqlite` and
 * `postgres` hold the statements that must differ.
 *
 * Conventions (both dialects): ids are TEXT (UUIDv7), JSON is TEXT, booleans are INTEGER 0/1, and
 * times are BIGINT epoch milliseconds from the store clock (never the database's clock).
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements run in order, in one transaction, by dialect. */
  readonly statements: Readonly<Record<Dialect, readonly string[]>>;
}

// Migrations are history: their SQL stays as it was applied, so this list is written out here
// rather than built from engine/status.ts like the store's queries.
const TERMINAL = "('completed', 'failed', 'cancelled', 'compensated', 'timed_out')";

const RUNS = `CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('task', 'workflow')),
  name TEXT NOT NULL,
  version TEXT,
  queue TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  concurrency_key TEXT,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'sleeping', 'waiting', 'completed', 'failed',
    'cancelling', 'cancelled', 'compensating', 'compensated', 'timed_out')),
  input TEXT,
  output TEXT,
  error TEXT,
  attempt INTEGER NOT NULL DEFAULT 1,
  retry_policy TEXT,
  idempotency_key TEXT,
  parent_run_id TEXT,
  parent_step_name TEXT,
  root_run_id TEXT NOT NULL,
  lease_owner TEXT,
  lease_token BIGINT NOT NULL DEFAULT 0,
  lease_expires_at BIGINT,
  available_at BIGINT,
  deadline_at BIGINT,
  wake_requested INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT '{}',
  progress TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT
)`;

// The partial indexes' WHERE clauses are repeated verbatim by the queries that use them
// (sql-store.ts): SQLite only uses a partial index when the query states its condition.
const RUN_INDEXES = [
  "CREATE UNIQUE INDEX runs_idempotency ON runs (namespace, idempotency_key) WHERE idempotency_key IS NOT NULL",
  // Claimable runs, in claim order.
  `CREATE INDEX runs_ready ON runs (namespace, queue, priority DESC, available_at, id)
    WHERE lease_owner IS NULL AND status IN ('queued', 'cancelling', 'compensating')`,
  // Parked runs by wake-up time (sleep, event timeout).
  "CREATE INDEX runs_timers ON runs (available_at) WHERE status IN ('sleeping', 'waiting')",
  // Queued runs that were delayed (start later, retry backoff), for the next wake-up. A run
  // claimable at once (available_at = created_at) stays out of it, so the hot path skips it.
  "CREATE INDEX runs_delayed ON runs (available_at) WHERE status = 'queued' AND available_at > created_at",
  // Leased runs: expired-lease takeover and queue concurrency counts.
  "CREATE INDEX runs_leases ON runs (namespace, queue, lease_expires_at) WHERE lease_owner IS NOT NULL",
  `CREATE INDEX runs_deadline ON runs (deadline_at) WHERE deadline_at IS NOT NULL AND status NOT IN ${TERMINAL}`,
  "CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL",
  "CREATE INDEX runs_list ON runs (namespace, id)",
  // Listing by status. Running runs are listed through runs_leases (all of them hold a lease)
  // and completed ones through runs_list (most runs are), so the hot path of a run — claim,
  // complete — does not touch this index.
  "CREATE INDEX runs_list_status ON runs (namespace, status, id) WHERE status NOT IN ('running', 'completed')",
];

const STEPS = `CREATE TABLE steps (
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'waiting', 'completed', 'failed', 'skipped', 'compensated')),
  output TEXT,
  error TEXT,
  attempt INTEGER NOT NULL DEFAULT 1,
  wake_at BIGINT,
  child_run_id TEXT,
  event_name TEXT,
  event_key TEXT,
  compensable INTEGER NOT NULL DEFAULT 0,
  started_at BIGINT NOT NULL,
  finished_at BIGINT,
  PRIMARY KEY (run_id, name)
)`;

const EVENTS = [
  `CREATE TABLE events (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    key TEXT,
    payload TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_by TEXT,
    consumed_at BIGINT
  )`,
  "CREATE INDEX events_pending ON events (namespace, name, created_at, id) WHERE consumed_by IS NULL",
  "CREATE INDEX events_expiry ON events (expires_at)",
  `CREATE TABLE event_waits (
    run_id TEXT NOT NULL,
    step_name TEXT NOT NULL,
    wait_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    event_name TEXT NOT NULL,
    event_key TEXT,
    timeout_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_name)
  )`,
  "CREATE INDEX event_waits_by_event ON event_waits (namespace, event_name, created_at, wait_id)",
];

const QUEUES = `CREATE TABLE queues (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  concurrency_limit INTEGER,
  key_concurrency_limit INTEGER,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (namespace, name)
)`;

const LOG_COLUMNS = `run_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  step_name TEXT,
  level TEXT NOT NULL,
  message TEXT NOT NULL,
  ts BIGINT NOT NULL`;

const COMMON_1 = [RUNS, ...RUN_INDEXES, STEPS, ...EVENTS, QUEUES];

/**
 * Planner statistics for SQLite, describing a large database: "N rows, then rows per distinct
 * prefix of the index". Without statistics SQLite prefers any equality match, e.g. scanning a
 * whole namespace through runs_list instead of the few due timers through runs_timers; seeding
 * them is the documented remedy (https://sqlite.org/lang_analyze.html). A later ANALYZE replaces them.
 */
const SQLITE_STATS: readonly (readonly [table: string, index: string | null, stat: string])[] = [
  ["runs", null, "1000000"],
  ["runs", "sqlite_autoindex_runs_1", "1000000 1"],
  ["runs", "runs_list", "1000000 250000 1"],
  ["runs", "runs_list_status", "100000 25000 5000 1"],
  ["runs", "runs_ready", "100000 25000 5000 1000 10 1"],
  ["runs", "runs_timers", "100000 2"],
  ["runs", "runs_delayed", "10000 2"],
  ["runs", "runs_leases", "1000 250 50 2"],
  ["runs", "runs_deadline", "100000 2"],
  ["runs", "runs_parent", "100000 5"],
  ["runs", "runs_idempotency", "100000 25000 1"],
  ["steps", null, "5000000"],
  ["steps", "sqlite_autoindex_steps_1", "5000000 5 1"],
  ["events", null, "100000"],
  ["events", "sqlite_autoindex_events_1", "100000 1"],
  ["events", "events_pending", "10000 2500 100 2 1"],
  ["events", "events_expiry", "100000 2"],
  ["event_waits", null, "10000"],
  ["event_waits", "sqlite_autoindex_event_waits_1", "10000 1 1"],
  ["event_waits", "event_waits_by_event", "10000 2500 100 2 1"],
  ["logs", null, "10000000"],
  ["logs", "logs_by_run", "10000000 100 1"],
];

const SEED_SQLITE_STATS = [
  "ANALYZE", // creates sqlite_stat1 (with zero counts for the empty tables, replaced below)
  "DELETE FROM sqlite_stat1",
  ...SQLITE_STATS.map(
    ([table, index, stat]) =>
      `INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('${table}', ${index === null ? "NULL" : `'${index}'`}, '${stat}')`,
  ),
  "ANALYZE sqlite_schema", // reloads the statistics
];

/** The control plane: namespaces, API tokens, secrets, workflow deployments, workers (sql-control.ts). */
const CONTROL_2 = [
  `CREATE TABLE namespaces (
    name TEXT PRIMARY KEY,
    description TEXT,
    created_at BIGINT NOT NULL
  )`,
  // `default` always exists (created_at 0: it predates every clock reading).
  "INSERT INTO namespaces (name, description, created_at) VALUES ('default', 'The default namespace', 0)",
  `CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'developer', 'viewer', 'worker')),
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
  )`,
  "CREATE INDEX api_tokens_namespace ON api_tokens (namespace, created_at)",
  `CREATE TABLE secrets (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    iv TEXT NOT NULL,
    auth_tag TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, name)
  )`,
  `CREATE TABLE workflow_deployments (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    seq INTEGER NOT NULL,
    runtime TEXT NOT NULL CHECK (runtime IN ('node', 'python', 'flow')),
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, name, version),
    UNIQUE (namespace, name, seq)
  )`,
  `CREATE TABLE workers (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    queues TEXT NOT NULL,
    kinds TEXT NOT NULL,
    workflows TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, name)
  )`,
];

/** The step statuses a row may have from migration 4 on (`cancelled`: a wait closed by cancel or timeout). */
const STEP_STATUS_CHECK_4 =
  "CHECK (status IN ('running', 'waiting', 'completed', 'failed', 'skipped', 'compensated', 'cancelled'))";

/**
 * Migration 4: steps may be `cancelled`. SQLite cannot alter a CHECK constraint, so the table is
 * rebuilt (https://sqlite.org/lang_altertable.html#otheralter) and its planner statistics seeded
 * again; PostgreSQL replaces the constraint.
 */
const STEPS_CANCELLED_4: Readonly<Record<Dialect, readonly string[]>> = {
  sqlite: [
    STEPS.replace("CREATE TABLE steps (", "CREATE TABLE steps_4 (").replace(
      /CHECK \(status IN \([^)]*\)\)/,
      STEP_STATUS_CHECK_4,
    ),
    "INSERT INTO steps_4 SELECT * FROM steps",
    "DROP TABLE steps",
    "ALTER TABLE steps_4 RENAME TO steps",
    "DELETE FROM sqlite_stat1 WHERE tbl IN ('steps', 'steps_4')",
    ...SQLITE_STATS.filter(([table]) => table === "steps").map(
      ([table, index, stat]) =>
        `INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('${table}', ${index === null ? "NULL" : `'${index}'`}, '${stat}')`,
    ),
    "ANALYZE sqlite_schema",
  ],
  postgres: [
    `ALTER TABLE steps DROP CONSTRAINT steps_status_check, ADD CONSTRAINT steps_status_check ${STEP_STATUS_CHECK_4}`,
  ],
};

/** Migration 12: the audit log of state-changing API calls (audit-store.ts). */
const AUDIT_COLUMNS = `at BIGINT NOT NULL,
    namespace TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    target TEXT NOT NULL,
    request_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL`;
const AUDIT_INDEXES = [
  "CREATE INDEX audit_log_namespace ON audit_log (namespace, id)",
  "CREATE INDEX audit_log_at ON audit_log (at)",
];
const AUDIT_12 = {
  sqlite: [`CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, ${AUDIT_COLUMNS})`, ...AUDIT_INDEXES],
  postgres: [
    `CREATE TABLE audit_log (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ${AUDIT_COLUMNS})`,
    ...AUDIT_INDEXES,
  ],
};

/**
 * Migration 13: finding run trees to delete after their retention (sql-retention.ts) without a
 * full scan: roots by finish time, and the children of a root.
 */
const RETENTION_13 = [
  "CREATE INDEX runs_finished_roots ON runs (finished_at) WHERE parent_run_id IS NULL AND finished_at IS NOT NULL",
  "CREATE INDEX runs_by_root ON runs (root_run_id) WHERE parent_run_id IS NOT NULL",
];

/**
 * Migration 7: webhooks. Incoming endpoints, outgoing subscriptions, and the delivery outbox
 * (written in the transaction of the run outcome it reports) with its attempt log.
 */
const WEBHOOKS_7 = [
  `CREATE TABLE webhook_endpoints (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    workflow TEXT NOT NULL,
    run_type TEXT NOT NULL CHECK (run_type IN ('workflow', 'task')),
    secret_name TEXT NOT NULL,
    scheme TEXT NOT NULL CHECK (scheme IN ('standard', 'github')),
    input_map TEXT,
    source TEXT NOT NULL CHECK (source IN ('api', 'config', 'flow')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, name)
  )`,
  `CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    workflow TEXT,
    run_id TEXT,
    secret_name TEXT NOT NULL,
    created_at BIGINT NOT NULL
  )`,
  "CREATE INDEX webhook_subscriptions_namespace ON webhook_subscriptions (namespace)",
  `CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    event TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_response_code INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  )`,
  "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
  "CREATE INDEX webhook_deliveries_list ON webhook_deliveries (namespace, created_at)",
  `CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    response_code INTEGER,
    latency_ms INTEGER NOT NULL,
    error TEXT,
    at BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
  )`,
];

/**
 * Migration 6: schedules and their fire history (sql-schedules.ts). `next_due_at` is the durable
 * cursor of each schedule: the scheduler advances it in the transaction that starts the fire's run.
 */
const SCHEDULES_6 = [
  `CREATE TABLE schedules (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    target_type TEXT NOT NULL CHECK (target_type IN ('task', 'workflow')),
    target_name TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    input TEXT,
    run_options TEXT NOT NULL DEFAULT '{}',
    jitter_ms BIGINT NOT NULL DEFAULT 0,
    start_at BIGINT,
    end_at BIGINT,
    overlap TEXT NOT NULL,
    catch_up TEXT NOT NULL,
    catch_up_window_ms BIGINT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    note TEXT,
    source TEXT NOT NULL CHECK (source IN ('api', 'config', 'flow')),
    next_due_at BIGINT,
    last_due_at BIGINT,
    last_run_id TEXT,
    buffered_due_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, id)
  )`,
  "CREATE INDEX schedules_due ON schedules (next_due_at) WHERE paused = 0",
  `CREATE TABLE schedule_fires (
    namespace TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    fired_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    run_id TEXT,
    reason TEXT,
    PRIMARY KEY (namespace, schedule_id, due_at)
  )`,
];

/**
 * Extra roles of a token beside its role, comma-separated (a `kiln dev` config token is a worker
 * and a developer in its namespace). Existing tokens get none.
 */
const TOKEN_ROLES_11 = ["ALTER TABLE api_tokens ADD COLUMN extra_roles TEXT NOT NULL DEFAULT ''"];

/**
 * Migration 17: the events page lists a namespace's events newest first (sql-events.ts), and a
 * worker registration reports how many runs it executes at once.
 */
const EVENTS_WORKERS_17 = [
  "CREATE INDEX events_recent ON events (namespace, id)",
  "ALTER TABLE workers ADD COLUMN concurrency INTEGER",
];

/**
 * Migration 14: accounts (users who sign in with a password, hashed by src/server/password-hash.ts)
 * with a role in one namespace, as tokens have; and the web UI's sessions of accounts (the SHA-256
 * of each session cookie, so a database dump reveals no usable session).
 */
const ACCOUNTS_14 = [
  `CREATE TABLE accounts (
    name TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
  )`,
  `CREATE TABLE account_sessions (
    hash TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  )`,
  "CREATE INDEX account_sessions_by_account ON account_sessions (account)",
];

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    statements: {
      sqlite: [
        ...COMMON_1,
        // AUTOINCREMENT: ids (the log seq) are never reused, so `afterSeq` paging stays correct.
        `CREATE TABLE logs (id INTEGER PRIMARY KEY AUTOINCREMENT, ${LOG_COLUMNS})`,
        "CREATE INDEX logs_by_run ON logs (run_id, id)",
        ...SEED_SQLITE_STATS,
      ],
      postgres: [
        ...COMMON_1,
        `CREATE TABLE logs (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ${LOG_COLUMNS})`,
        "CREATE INDEX logs_by_run ON logs (run_id, id)",
      ],
    },
  },
  { version: 2, name: "control plane", statements: { sqlite: CONTROL_2, postgres: CONTROL_2 } },
  { version: 4, name: "cancelled steps", statements: STEPS_CANCELLED_4 },
  { version: 6, name: "schedules", statements: { sqlite: SCHEDULES_6, postgres: SCHEDULES_6 } },
  { version: 7, name: "webhooks", statements: { sqlite: WEBHOOKS_7, postgres: WEBHOOKS_7 } },
  {
    version: 9,
    name: "deployment compute adapter",
    statements: {
      sqlite: ["ALTER TABLE workflow_deployments ADD COLUMN adapter TEXT"],
      postgres: ["ALTER TABLE workflow_deployments ADD COLUMN adapter TEXT"],
    },
  },
  { version: 11, name: "token extra roles", statements: { sqlite: TOKEN_ROLES_11, postgres: TOKEN_ROLES_11 } },
  { version: 12, name: "audit log", statements: AUDIT_12 },
  { version: 13, name: "retention indexes", statements: { sqlite: RETENTION_13, postgres: RETENTION_13 } },
  { version: 14, name: "accounts", statements: { sqlite: ACCOUNTS_14, postgres: ACCOUNTS_14 } },
  {
    version: 17,
    name: "recent events, worker concurrency",
    statements: { sqlite: EVENTS_WORKERS_17, postgres: EVENTS_WORKERS_17 },
  },
];

/**
 * Brings the database to the latest schema version. Each migration runs in its own transaction
 * with its row in `schema_migrations`. The caller makes sure only one process migrates at a time
 * (PostgreSQL: an advisory lock; SQLite: the write lock of BEGIN IMMEDIATE).
 */
export async function migrate(
  driver: Pick<SqlDriver, "dialect" | "run" | "transaction">,
  now: () => number = Date.now,
): Promise<number> {
  await driver.run(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
  );
  // In version order whatever the order of the list (branches add migrations side by side).
  const ordered = [...MIGRATIONS].sort((x, y) => x.version - y.version);
  const latest = ordered.at(-1)?.version ?? 0;
  let applied = 0;
  for (const migration of ordered) {
    const done = await driver
      .transaction(async (tx) => {
        const rows = await tx.all<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version DESC");
        const current = rows[0]?.version ?? 0;
        if (current > latest) {
          throw new KilnError(
            "MIGRATION_FAILED",
            `The database schema is at version ${current}, newer than this Kiln knows (${latest}); upgrade Kiln`,
            { retryable: false },
          );
        }
        if (rows.some((r) => r.version === migration.version)) return false;
        for (const sql of migration.statements[driver.dialect]) await tx.run(sql);
        await tx.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [
          migration.version,
          migration.name,
          now(),
        ]);
        return true;
      })
      .catch((cause: unknown) => {
        if (cause instanceof KilnError) throw cause;
        throw new KilnError(
          "MIGRATION_FAILED",
          `Migration ${migration.version} (${migration.name}) failed on ${driver.dialect}: ${(cause as Error).message}`,
          { cause },
        );
      });
    if (done) applied++;
  }
  return applied;
}
