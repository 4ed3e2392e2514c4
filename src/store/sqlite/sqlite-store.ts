import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { KilnError } from "../../errors.ts";
import { migrate } from "../migrations.ts";
import type { SqlDriver, SqlParam, SqlTransaction } from "../sql-driver.ts";
import { SqlStore } from "../sql-store.ts";
import type { StoreOptions } from "../store.ts";

/** Options of SqliteStore.open beyond the common ones. */
export interface SqliteStoreOptions extends StoreOptions {
  /** How long a statement waits for another process's write lock, in ms. Default 5000. */
  readonly busyTimeoutMs?: number;
}

/** The Store on an embedded SQLite file (the default of `kiln dev`), or in memory. */
export class SqliteStore extends SqlStore {
  /**
   * Opens (creating if needed) the database at `path`, or a private in-memory one for
   * `":memory:"`, and migrates it: WAL journal, synchronous=NORMAL, a busy timeout.
   */
  static async open(path: string, options: Readonly<SqliteStoreOptions> = {}): Promise<SqliteStore> {
    const driver = SqliteDriver.open(path, options.busyTimeoutMs ?? 5000);
    try {
      await migrate(driver);
    } catch (error) {
      await driver.close();
      throw error;
    }
    return new SqliteStore(driver, options);
  }
}

type Statement = Database.Statement<unknown[], unknown>;

/** A prepared statement, and for readers the function that makes a row object of a raw row. */
interface Prepared {
  readonly stmt: Statement;
  readonly toObject: ((row: unknown[]) => object) | undefined;
}

/**
 * Compiles `row => ({ col0: row[0], … })` for a statement's columns: one object literal of a fixed
 * shape, where building objects key by key makes V8 migrate each row through dozens of shapes
 * (and better-sqlite3's own row objects cost twice as much on wide rows). The column names come
 * from our own SQL and are quoted with JSON.stringify.
 */
function rowMaker(columns: readonly string[]): (row: unknown[]) => object {
  // A computed key for "__proto__", which as a plain literal key would set the prototype.
  const key = (name: string) => (name === "__proto__" ? `[${JSON.stringify(name)}]` : JSON.stringify(name));
  const fields = columns.map((name, i) => `${key(name)}: row[${i}]`).join(", ");
  return new Function("row", `return { ${fields} };`) as (row: unknown[]) => object;
}

/** Transactions sharing one physical commit: their callers and notifications wait for it. */
interface CommitGroup {
  readonly waiters: { resolve: () => void; reject: (error: unknown) => void }[];
  readonly notifications: [string, string][];
}

/** Listeners of one database by channel. */
type Bus = Map<string, Set<(payload: string) => void>>;

/** Buses by database file, so that stores on the same file in one process hear each other. */
const BUSES = new Map<string, { readonly bus: Bus; users: number }>();

/** A minimal FIFO mutex: transactions and statements take turns on the one connection. */
class Mutex {
  #locked = false;
  readonly #waiters: (() => void)[] = [];

  get locked(): boolean {
    return this.#locked;
  }

  async lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#locked = false;
  }
}

const MAX_CACHED_STATEMENTS = 500;

/**
 * The SQLite driver over better-sqlite3. better-sqlite3 is synchronous, so while a transaction's
 * async function awaits, nothing else may run a statement on the connection (it would land in
 * that transaction): every statement and transaction takes the mutex first.
 */
class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Prepared>();
  readonly #mutex = new Mutex();
  readonly #bus: Bus;
  readonly #busKey: string | undefined;
  readonly #unlisteners = new Set<() => Promise<void>>();
  /** Transactions ended in this turn and not yet committed (see transaction()). */
  #group: CommitGroup | null = null;

  private constructor(db: Database.Database, busKey: string | undefined) {
    this.#db = db;
    this.#busKey = busKey;
    if (busKey === undefined) {
      this.#bus = new Map();
    } else {
      const shared = BUSES.get(busKey) ?? { bus: new Map(), users: 0 };
      shared.users++;
      BUSES.set(busKey, shared);
      this.#bus = shared.bus;
    }
  }

  static open(path: string, busyTimeoutMs: number): SqliteDriver {
    const memory = path === ":memory:" || path === "";
    const file = memory ? ":memory:" : resolve(path);
    let db: Database.Database;
    try {
      if (!memory) {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        ownerOnly(file, true);
      }
      db = new Database(file);
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      if (!memory) {
        db.pragma("journal_mode = WAL");
        // SQLite gives -wal and -shm the database file's mode; older ones may predate that.
        ownerOnly(`${file}-wal`, false);
        ownerOnly(`${file}-shm`, false);
      }
      db.pragma("synchronous = NORMAL");
      db.pragma("temp_store = MEMORY");
      // Up to 64 MiB of page cache (allocated as pages are read; the default is 2 MiB): the hot
      // indexes of a busy queue stay in memory instead of being re-read from the OS cache.
      db.pragma("cache_size = -65536");
    } catch (cause) {
      throw new KilnError(
        "STORE_UNAVAILABLE",
        `Could not open the SQLite database at ${file}: ${(cause as Error).message}. Check that the directory is writable and the file is a Kiln database not locked by another program.`,
        { cause },
      );
    }
    return new SqliteDriver(db, memory ? undefined : file);
  }

  #prepare(sql: string): Prepared {
    let prepared = this.#statements.get(sql);
    if (!prepared) {
      if (this.#statements.size >= MAX_CACHED_STATEMENTS) this.#statements.clear();
      const stmt = this.#db.prepare(sql);
      // Readers return rows as arrays, made into objects by a compiled maker (see rowMaker).
      const toObject = stmt.reader
        ? rowMaker(
            stmt
              .raw(true)
              .columns()
              .map((c) => c.name),
          )
        : undefined;
      prepared = { stmt, toObject };
      this.#statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Failures of the database file itself (locked, full, unreadable) are STORE_UNAVAILABLE. */
  #unavailable(error: unknown): unknown {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code !== "string" || !/^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|CORRUPT|NOTADB)/.test(code)) {
      return error;
    }
    const hint =
      code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")
        ? "another process holds the database's write lock for longer than the busy timeout"
        : "check the database file, its directory's permissions and the free disk space";
    return new KilnError("STORE_UNAVAILABLE", `SQLite failed (${code}): ${(error as Error).message}; ${hint}`, {
      cause: error,
    });
  }

  #all<T>(sql: string, params: readonly SqlParam[]): T[] {
    try {
      return this.#rows<T>(sql, params);
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  #rows<T>(sql: string, params: readonly SqlParam[]): T[] {
    const { stmt, toObject } = this.#prepare(sql);
    if (toObject === undefined) {
      stmt.run(...(params as unknown[]));
      return [];
    }
    const rows = stmt.all(...(params as unknown[])) as unknown[][];
    const out = new Array<T>(rows.length);
    for (let r = 0; r < rows.length; r++) out[r] = toObject(rows[r] as unknown[]) as T;
    return out;
  }

  #run(sql: string, params: readonly SqlParam[]): number {
    try {
      const { stmt, toObject } = this.#prepare(sql);
      if (toObject !== undefined) return stmt.all(...(params as unknown[])).length;
      return stmt.run(...(params as unknown[])).changes;
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  #checkOpen(): void {
    if (!this.#db.open) throw new KilnError("STORE_UNAVAILABLE", "The SQLite store is closed");
  }

  async #exclusive<T>(fn: () => T): Promise<T> {
    this.#checkOpen();
    if (!this.#mutex.locked) {
      this.#commitGroup();
      return fn();
    }
    await this.#mutex.lock();
    try {
      this.#commitGroup();
      return fn();
    } finally {
      this.#mutex.unlock();
    }
  }

  all<T extends object>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    return this.#exclusive(() => this.#all<T>(sql, params));
  }

  run(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    return this.#exclusive(() => this.#run(sql, params));
  }

  /**
   * Group commit: transactions that end within one event-loop turn share one physical transaction
   * (BEGIN IMMEDIATE … COMMIT), each inside its own savepoint, so a failing one rolls back alone.
   * A transaction's promise settles only after the shared COMMIT, so nothing is acknowledged
   * before it is durable. A worker's claim and the batch of outcomes it just recorded thus cost one
   * commit (one WAL write of the pages both touched) instead of two.
   */
  async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    this.#checkOpen();
    await this.#mutex.lock();
    const pending: [string, string][] = [];
    let open = true;
    const guard = () => {
      if (!open) throw new Error("statement on a finished transaction");
    };
    const tx: SqlTransaction = {
      all: async <R extends object>(sql: string, params: readonly SqlParam[] = []) => {
        guard();
        return this.#all<R>(sql, params);
      },
      run: async (sql, params = []) => {
        guard();
        return this.#run(sql, params);
      },
      notify: async (channel, payload) => {
        guard();
        pending.push([channel, payload]);
      },
      // Statements ran synchronously: committing when the function resolves is just as early.
      commit: () => guard(),
    };
    let group: CommitGroup;
    let result: T;
    try {
      this.#checkOpen();
      group = this.#openGroup();
      this.#run("SAVEPOINT kiln_tx", []);
      try {
        result = await fn(tx);
        this.#run("RELEASE kiln_tx", []);
      } catch (error) {
        if (this.#db.inTransaction) {
          this.#prepare("ROLLBACK TO kiln_tx").stmt.run();
          this.#prepare("RELEASE kiln_tx").stmt.run();
        } else {
          // SQLite rolled the whole transaction back (disk full, I/O error): the group is lost.
          this.#abandonGroup(error);
        }
        throw error;
      }
      group.notifications.push(...pending);
    } finally {
      open = false;
      this.#mutex.unlock();
    }
    await new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }));
    return result;
  }

  /** The open commit group, or a new one: BEGIN IMMEDIATE now, COMMIT at the end of this turn. */
  #openGroup(): CommitGroup {
    if (this.#group !== null) return this.#group;
    this.#run("BEGIN IMMEDIATE", []);
    const group: CommitGroup = { waiters: [], notifications: [] };
    this.#group = group;
    setImmediate(() => {
      if (this.#group !== group) return;
      if (!this.#mutex.locked) {
        this.#commitGroup();
        return;
      }
      void this.#mutex.lock().then(() => {
        try {
          this.#commitGroup();
        } finally {
          this.#mutex.unlock();
        }
      });
    });
    return group;
  }

  /** Fails every transaction of the open group, which SQLite already rolled back. */
  #abandonGroup(error: unknown): void {
    const group = this.#group;
    this.#group = null;
    for (const w of group?.waiters ?? []) w.reject(error);
  }

  /** Commits the open group (the caller holds the mutex or nothing else runs) and settles it. */
  #commitGroup(): void {
    const group = this.#group;
    if (group === null) return;
    this.#group = null;
    try {
      this.#run("COMMIT", []);
    } catch (error) {
      if (this.#db.open && this.#db.inTransaction) this.#prepare("ROLLBACK").stmt.run();
      for (const w of group.waiters) w.reject(error);
      return;
    }
    for (const [channel, payload] of group.notifications) this.#emit(channel, payload);
    for (const w of group.waiters) w.resolve();
  }

  #emit(channel: string, payload: string): void {
    const handlers = this.#bus.get(channel);
    if (!handlers || handlers.size === 0) return;
    queueMicrotask(() => {
      for (const handler of handlers) {
        try {
          handler(payload);
        } catch {
          // A listener's failure is its own; the store keeps delivering to the others.
        }
      }
    });
  }

  async listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>> {
    let handlers = this.#bus.get(channel);
    if (!handlers) this.#bus.set(channel, (handlers = new Set()));
    const own = (payload: string) => handler(payload);
    handlers.add(own);
    const unlisten = async () => {
      handlers.delete(own);
      this.#unlisteners.delete(unlisten);
    };
    this.#unlisteners.add(unlisten);
    return unlisten;
  }

  async close(): Promise<void> {
    await this.#mutex.lock();
    try {
      if (this.#db.open) this.#commitGroup();
      for (const unlisten of [...this.#unlisteners]) await unlisten();
      this.#statements.clear();
      if (!this.#db.open) return;
      this.#db.close();
      const shared = this.#busKey === undefined ? undefined : BUSES.get(this.#busKey);
      if (shared && --shared.users === 0) BUSES.delete(this.#busKey as string);
    } finally {
      this.#mutex.unlock();
    }
  }
}

/**
 * Makes a database file readable and writable by its owner only (0600): it holds every run's
 * input and output and the hashes of the API tokens. `create` creates it (empty) if missing, so
 * that it never exists with the umask's wider mode.
 */
function ownerOnly(file: string, create: boolean): void {
  if (create) closeSync(openSync(file, "a", 0o600));
  else if (!existsSync(file)) return;
  chmodSync(file, 0o600);
}
