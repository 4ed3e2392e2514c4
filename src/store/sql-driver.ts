/**
 * The small database driver the SQL store is written against. SQLite and PostgreSQL each provide
 * one; everything above it (sql-store.ts) is written once.
 *
 * SQL uses `?` placeholders in both dialects; the PostgreSQL driver rewrites them to `$1..$n`.
 * Lists and batches of rows travel as ONE parameter so that each statement's text is constant
 * (and its prepared form cached) whatever the batch size: PostgreSQL gets arrays (`= ANY(?)`,
 * `unnest(?, ?)`), SQLite gets JSON text (`json_each(?)`, `jsonb_each(?)`). `inList` and
 * `rowsSource` below build those fragments. The other places where SQL differs by dialect are the
 * row locks (FOR UPDATE [SKIP LOCKED]), advisory locks, key lists for batch joins (SqlKernel) and
 * the DDL of the logs table (migrations.ts).
 */

/** Which SQL dialect a driver speaks. */
export type Dialect = "sqlite" | "postgres";

/** A scalar bound to a placeholder. Booleans are stored as 0/1, JSON as text. */
export type SqlScalar = string | number | null;

/** A value bound to a placeholder: a scalar, or (PostgreSQL only) an array of scalars. */
export type SqlParam = SqlScalar | readonly SqlScalar[];

/** Runs statements. Outside a transaction each statement commits on its own. */
export interface SqlExecutor {
  /** Runs a statement and returns its rows (also for `... RETURNING`). */
  all<T extends object>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** Runs a statement and returns the number of rows it changed. */
  run(sql: string, params?: readonly SqlParam[]): Promise<number>;
}

/** An open transaction. */
export interface SqlTransaction extends SqlExecutor {
  /** Sends `payload` on `channel` when, and only if, the transaction commits. */
  notify(channel: string, payload: string): Promise<void>;
  /**
   * Commits right after the statements issued so far, before their results are read: PostgreSQL
   * sends COMMIT in the same round trip. No statement may follow. If one of the statements fails,
   * the transaction rolls back instead (and the failure reaches the transaction function), so call
   * it only when all that is left to do is read results. Without it, the driver commits when the
   * transaction function resolves.
   */
  commit(): void;
}

/** A connection (pool) to one database. */
export interface SqlDriver extends SqlExecutor {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. No other
   * statement interleaves with it. The driver may run `fn` again after a deadlock or a
   * serialization failure, so `fn` must have no effects outside the transaction.
   */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  /**
   * Delivers the payloads sent on `channel` (by this process, or by any process on PostgreSQL).
   * `onReconnect` is called after the listening connection was lost and LISTEN is in place again
   * (payloads sent meanwhile are lost). Returns the function that stops listening.
   */
  listen(
    channel: string,
    handler: (payload: string) => void,
    options?: Readonly<{ onReconnect?: () => void }>,
  ): Promise<() => Promise<void>>;
  /** Closes every connection; the driver is unusable afterwards. */
  close(): Promise<void>;
}

/** A piece of SQL with the parameters its placeholders take, in order. */
export interface SqlFragment {
  readonly sql: string;
  readonly params: readonly SqlParam[];
}

/** The type of a batch column, for PostgreSQL's array casts. */
export type ColumnType = "text" | "bigint";

/**
 * `IN (…)` over a list as one parameter: append to a column, e.g. `` `id ${f.sql}` ``.
 * An empty list matches nothing.
 */
export function inList(dialect: Dialect, values: readonly SqlScalar[], type: ColumnType = "text"): SqlFragment {
  if (dialect === "postgres") return { sql: `= ANY(?::${type}[])`, params: [values] };
  return { sql: "IN (SELECT value FROM json_each(?))", params: [JSON.stringify(values)] };
}

/**
 * A FROM item named `v` whose rows are `rows` (each one value per column, in column order), for
 * set-based batch writes: `UPDATE runs AS t SET … FROM ${src.sql} WHERE t.id = v.id` and
 * `INSERT INTO steps (…) SELECT … FROM ${src.sql} WHERE true ON CONFLICT …`.
 */
export function rowsSource(
  dialect: Dialect,
  columns: readonly (readonly [name: string, type: ColumnType])[],
  rows: readonly (readonly SqlScalar[])[],
): SqlFragment {
  if (dialect === "postgres") {
    const arrays = columns.map((_, i) => rows.map((row) => row[i] ?? null));
    const args = columns.map(([, type]) => `?::${type}[]`).join(", ");
    const names = columns.map(([name]) => name).join(", ");
    return { sql: `unnest(${args}) AS v(${names})`, params: arrays };
  }
  // jsonb_each: each row stays binary JSON, so `->>` does not re-parse the row's text per column.
  const picks = columns.map(([name], i) => `value->>${i} AS ${name}`).join(", ");
  return { sql: `(SELECT ${picks} FROM jsonb_each(?)) AS v`, params: [JSON.stringify(rows)] };
}
