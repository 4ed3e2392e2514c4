import { KilnError } from "../errors.ts";
import type { SqlDriver, SqlExecutor, SqlParam } from "./sql-driver.ts";

/** Rows per INSERT: well under PostgreSQL's 65,535 parameters for Kiln's widest table. */
const BATCH_ROWS = 200;

/** Rows that a freshly migrated database already holds (so a new target still counts as empty). */
const SEEDED: Readonly<Record<string, number>> = { namespaces: 1 };

/** What `copyDatabase` copied: rows per table, counted again in the target after the commit. */
export interface CopyReport {
  readonly tables: readonly { readonly name: string; readonly source: number; readonly target: number }[];
}

/** Options of copyDatabase. */
export interface CopyOptions {
  /** Replace what the target holds (its rows are deleted in the copy's transaction). */
  readonly force?: boolean;
  /** Called after each table is copied, for progress output. */
  readonly onTable?: (name: string, rows: number) => void;
}

/**
 * Copies every table of a Kiln database to another, migrated to the same schema version: runs,
 * steps, events, waits, deployments, tokens, secrets (still encrypted: the target needs the same
 * master key), logs and whatever later migrations add. The source is read in one transaction (a
 * consistent snapshot; on SQLite it also holds off writers), the target written in one, so a
 * failure leaves the target as it was. Refuses a target that holds data unless `force`.
 */
export async function copyDatabase(
  source: SqlDriver,
  target: SqlDriver,
  options: CopyOptions = {},
): Promise<CopyReport> {
  const [sourceVersion, targetVersion] = await Promise.all([schemaVersion(source), schemaVersion(target)]);
  if (sourceVersion !== targetVersion) {
    throw new KilnError(
      "MIGRATION_FAILED",
      `The source database is at schema version ${sourceVersion} and the target at ${targetVersion}; open both with the same Kiln version`,
    );
  }
  const tables = await tableNames(source);
  const targetTables = new Set(await tableNames(target));
  const missing = tables.filter((t) => !targetTables.has(t));
  if (missing.length > 0) {
    throw new KilnError("MIGRATION_FAILED", `The target database has no table ${missing.join(", ")}`);
  }
  const counts: { name: string; source: number }[] = [];
  await source.transaction(async (read) => {
    await target.transaction(async (write) => {
      const filled: string[] = [];
      for (const table of tables) {
        if ((await countRows(write, table)) > (SEEDED[table] ?? 0)) filled.push(table);
      }
      if (filled.length > 0 && !options.force) {
        throw new KilnError(
          "TARGET_NOT_EMPTY",
          `The target database already holds data (${filled.join(", ")}); copy into an empty database, or pass --force to replace it`,
        );
      }
      for (const table of tables) await write.run(`DELETE FROM ${table}`);
      for (const table of tables) {
        const rows = await copyTable(read, source.dialect, write, target.dialect, table);
        counts.push({ name: table, source: rows });
        options.onTable?.(table, rows);
      }
    });
  });
  const tablesReport = [];
  for (const c of counts) tablesReport.push({ ...c, target: await countRows(target, c.name) });
  const wrong = tablesReport.filter((t) => t.source !== t.target);
  if (wrong.length > 0) {
    throw new KilnError(
      "MIGRATION_FAILED",
      `Row counts differ after the copy: ${wrong.map((t) => `${t.name} ${t.source} → ${t.target}`).join(", ")}`,
    );
  }
  return { tables: tablesReport };
}

async function copyTable(
  read: SqlExecutor,
  readDialect: SqlDriver["dialect"],
  write: SqlExecutor,
  dialect: SqlDriver["dialect"],
  table: string,
): Promise<number> {
  const identity = dialect === "postgres" ? await identityColumns(write, table) : [];
  let copied = 0;
  let after: SqlParam = -1;
  for (let offset = 0; ; offset += BATCH_ROWS) {
    // Pages in a stable order inside the read transaction's snapshot: by rowid on SQLite (no
    // rescans), by the first column elsewhere.
    const rows =
      readDialect === "sqlite"
        ? await read.all<Record<string, unknown>>(
            `SELECT rowid AS kiln_copy_rowid, * FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`,
            [after, BATCH_ROWS],
          )
        : await read.all<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY 1 LIMIT ? OFFSET ?`, [
            BATCH_ROWS,
            offset,
          ]);
    if (rows.length === 0) break;
    if (readDialect === "sqlite") {
      after = (rows.at(-1) as Record<string, unknown>).kiln_copy_rowid as number;
      for (const row of rows) delete row.kiln_copy_rowid;
    }
    const columns = Object.keys(rows[0] as object);
    const tuple = `(${columns.map(() => "?").join(", ")})`;
    const overriding = identity.length > 0 ? " OVERRIDING SYSTEM VALUE" : "";
    await write.run(
      `INSERT INTO ${table} (${columns.join(", ")})${overriding} VALUES ${rows.map(() => tuple).join(", ")} ON CONFLICT DO NOTHING`,
      rows.flatMap((row) => columns.map((c) => row[c] as SqlParam)),
    );
    copied += rows.length;
    if (rows.length < BATCH_ROWS) break;
  }
  // An identity column's sequence continues after the copied ids (log sequence numbers).
  for (const column of identity) {
    await write.all(
      `SELECT setval(pg_get_serial_sequence('${table}', '${column}'), GREATEST((SELECT MAX(${column}) FROM ${table}), 1))`,
    );
  }
  return copied;
}

async function schemaVersion(db: SqlExecutor): Promise<number> {
  const [row] = await db.all<{ version: number | string }>("SELECT MAX(version) AS version FROM schema_migrations");
  return Number(row?.version ?? 0);
}

async function countRows(db: SqlExecutor, table: string): Promise<number> {
  const [row] = await db.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(row?.n ?? 0);
}

/** Kiln's tables (not the migration ledger, not SQLite's own), in a stable order. */
async function tableNames(db: SqlDriver): Promise<string[]> {
  const rows =
    db.dialect === "sqlite"
      ? await db.all<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
      : await db.all<{ name: string }>(
          "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
        );
  return rows.map((r) => r.name).filter((name) => name !== "schema_migrations" && /^[a-z_][a-z0-9_]*$/.test(name));
}

async function identityColumns(db: SqlExecutor, table: string): Promise<string[]> {
  const rows = await db.all<{ name: string }>(
    "SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'",
    [table],
  );
  return rows.map((r) => r.name);
}
