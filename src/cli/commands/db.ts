import { copyFileSync, existsSync, renameSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import Database from "better-sqlite3";
import { KilnError } from "../../errors.ts";
import { copyDatabase } from "../../store/copy-database.ts";
import { openStore } from "../../store/open-store.ts";
import type { SqlStore } from "../../store/sql-store.ts";
import type { CliContext } from "../context.ts";
import type { Runner } from "../command-registry.ts";
import { printJson } from "../output.ts";

/** Options of `kiln db migrate`. */
export interface DbMigrateOptions {
  readonly from: string;
  readonly to: string;
  readonly force?: boolean;
}

const isPostgres = (url: string) => /^postgres(ql)?:\/\//.test(url);

/** Where a URL points, without its password, for messages. */
function redact(url: string): string {
  return isPostgres(url) ? url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@") : url;
}

/**
 * `kiln db migrate --from .kiln/kiln.db --to postgres://…`: copies a whole installation (runs in
 * every status, steps, events, waits, deployments, tokens, secrets still encrypted, logs) into a
 * database migrated to the same schema, in one transaction, and checks the row counts.
 */
export async function dbMigrateCommand(ctx: CliContext, options: DbMigrateOptions): Promise<number> {
  if (options.from === options.to) throw new KilnError("INVALID_INPUT", "--from and --to name the same database");
  if (!isPostgres(options.from) && !existsSync(options.from.replace(/^sqlite:/, ""))) {
    throw new KilnError("INVALID_INPUT", `No database at ${options.from} (--from): give the path of kiln.db`);
  }
  const source = (await openStore(options.from)) as unknown as SqlStore;
  try {
    const target = (await openStore(options.to)) as unknown as SqlStore;
    try {
      const report = await copyDatabase(source.maintenanceDriver(), target.maintenanceDriver(), {
        force: options.force === true,
      });
      if (ctx.options.json) printJson(ctx.output, report);
      else {
        for (const t of report.tables) ctx.output.out(`${t.name.padEnd(24)} ${String(t.target).padStart(9)} rows`);
        ctx.output.out(`Copied ${redact(options.from)} to ${redact(options.to)}; row counts match.`);
      }
      return 0;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

/** `kiln db backup FILE`: a consistent copy of the SQLite database, taken online (SQLite's backup API). */
export async function dbBackupCommand(ctx: CliContext, file: string, options: { db?: string }): Promise<number> {
  const path = databasePath(ctx, options.db);
  const target = resolve(file);
  if (existsSync(target)) throw new KilnError("TARGET_NOT_EMPTY", `${target} exists; choose a new file for the backup`);
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    await db.backup(target);
  } finally {
    db.close();
  }
  ctx.output.out(`Backed up ${path} to ${target}`);
  return 0;
}

/**
 * `kiln db restore FILE`: puts a backup in place of the SQLite database (stop `kiln dev` first).
 * The backup is checked (integrity_check) before anything is replaced.
 */
export async function dbRestoreCommand(
  ctx: CliContext,
  file: string,
  options: { db?: string; force?: boolean },
): Promise<number> {
  const path = databasePath(ctx, options.db);
  const backup = new Database(resolve(file), { readonly: true, fileMustExist: true });
  try {
    const [check] = backup.pragma("integrity_check") as { integrity_check: string }[];
    if (check?.integrity_check !== "ok") {
      throw new KilnError("INVALID_INPUT", `${file} is not an intact SQLite database: ${check?.integrity_check}`);
    }
  } finally {
    backup.close();
  }
  if (existsSync(path) && !options.force) {
    throw new KilnError("TARGET_NOT_EMPTY", `${path} exists; pass --force to replace it (stop kiln dev first)`);
  }
  // Copied beside it and renamed: the database file is never half written.
  copyFileSync(resolve(file), `${path}.restoring`);
  for (const suffix of ["-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
  renameSync(`${path}.restoring`, path);
  ctx.output.out(`Restored ${path} from ${file}`);
  return 0;
}

function databasePath(ctx: CliContext, db: string | undefined): string {
  const path = db ?? resolve(ctx.options.data ?? ctx.env.KILN_DATA ?? ".kiln", "kiln.db");
  if (isPostgres(path)) {
    throw new KilnError(
      "INVALID_INPUT",
      "kiln db backup/restore work on SQLite; back up PostgreSQL with pg_dump (docs/operations.md)",
    );
  }
  return resolve(path.replace(/^sqlite:/, ""));
}

/** Adds `kiln db migrate|backup|restore` to the program. */
export function installDbCommands(program: Command, run: Runner): void {
  const db = program.command("db").description("copy, back up and restore Kiln's database");
  db.command("migrate")
    .description("copy a whole installation into another database (e.g. SQLite → PostgreSQL)")
    .requiredOption("--from <url>", "source database (a kiln.db path, or postgres://…)")
    .requiredOption("--to <url>", "target database (postgres://…[?schema=NAME], or a kiln.db path)")
    .option("--force", "replace what the target holds")
    .action(run((ctx, opts) => dbMigrateCommand(ctx, opts as DbMigrateOptions)));
  db.command("backup <file>")
    .description("write an online backup of the SQLite database to FILE")
    .option("--db <path>", "database file (default <data>/kiln.db)")
    .action(run((ctx, file: string, opts) => dbBackupCommand(ctx, file, opts as { db?: string })));
  db.command("restore <file>")
    .description("replace the SQLite database with a backup (stop kiln dev first)")
    .option("--db <path>", "database file (default <data>/kiln.db)")
    .option("--force", "replace an existing database")
    .action(run((ctx, file: string, opts) => dbRestoreCommand(ctx, file, opts as { db?: string; force?: boolean })));
}
