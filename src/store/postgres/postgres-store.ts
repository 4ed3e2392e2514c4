import type { Socket } from "node:net";
import pg from "pg";
import { KilnError } from "../../errors.ts";
import { migrate } from "../migrations.ts";
import type { SqlDriver, SqlParam, SqlTransaction } from "../sql-driver.ts";
import { SqlStore } from "../sql-store.ts";
import type { StoreOptions } from "../store.ts";

/** Where the PostgreSQL store lives. */
export interface PostgresConnection {
  /** A libpq URL: `postgres://user:password@host:5432/db`. */
  readonly connectionString: string;
  /** The schema holding Kiln's tables; created if missing. Default "public". */
  readonly schema?: string;
  /** Connections in the pool. Default 10. */
  readonly poolSize?: number;
}

/** The Store on PostgreSQL: many servers share one database, coordinated by row and advisory locks. */
export class PostgresStore extends SqlStore {
  /**
   * Connects, creates the schema if needed and migrates it under an advisory lock (so that many
   * servers starting at once migrate once). Fails with STORE_UNAVAILABLE, naming the server (not
   * the password), when the database cannot be reached.
   */
  static async open(
    connection: Readonly<PostgresConnection>,
    options: Readonly<StoreOptions> = {},
  ): Promise<PostgresStore> {
    const schema = connection.schema ?? "public";
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new KilnError(
        "INVALID_CONFIG",
        `Expected the PostgreSQL schema to be a lower-case identifier (letters, digits, _), got ${JSON.stringify(schema)}`,
      );
    }
    const poolSize = connection.poolSize ?? 10;
    if (!(Number.isSafeInteger(poolSize) && poolSize > 0)) {
      throw new KilnError(
        "INVALID_CONFIG",
        `Expected the pool size to be a positive integer, got ${JSON.stringify(poolSize)}`,
      );
    }
    const driver = new PostgresDriver(connection.connectionString, schema, poolSize);
    try {
      await driver.prepareSchema();
    } catch (error) {
      await driver.close();
      throw error;
    }
    return new PostgresStore(driver, options);
  }
}

/** BIGINT (oid 20) columns hold epoch milliseconds and counters: numbers, not strings. */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as "text")) as pg.CustomTypesConfig["getTypeParser"],
};

/** SQLSTATEs after which a whole transaction is worth running again. */
const RETRY_STATES = new Set(["40001", "40P01"]);
const MAX_TX_ATTEMPTS = 6;

/** The connection string without its password, for messages. */
function redact(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    url.password = "";
    return url.toString();
  } catch {
    return "(an unparseable connection string)";
  }
}

/** Rewrites `?` placeholders (outside quoted literals) to `$1..$n`. */
function numberPlaceholders(sql: string): string {
  let n = 0;
  let out = "";
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === "?") {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * Returns a function that corks the client's socket until the current burst of synchronously
 * issued statements is over (a microtask later), so that BEGIN and the statements a transaction
 * issues together leave in one write instead of one each. Without access to the socket (pg
 * internals changed) it does nothing: statements are still pipelined, only in more writes.
 */
function burstWriter(client: pg.PoolClient): () => void {
  const stream = (client as unknown as { connection?: { stream?: Partial<Socket> } }).connection?.stream;
  if (typeof stream?.cork !== "function" || typeof stream.uncork !== "function") return () => {};
  let corked = false;
  return () => {
    if (corked) return;
    corked = true;
    stream.cork?.();
    queueMicrotask(() => {
      corked = false;
      stream.uncork?.();
    });
  };
}

/** The connection failed mid-transaction: it must be dropped, not returned to the pool. */
class BrokenConnection extends Error {
  constructor(override readonly cause: unknown) {
    super("connection broken");
  }
}

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The PostgreSQL driver over a pg Pool. Every pool connection's search_path is the store's
 * schema (a startup option, so no statement runs before it). Statements are prepared once per
 * connection (named by their text). Notifications go through pg_notify in the transaction, so
 * they are sent at commit; LISTEN runs on one dedicated connection.
 */
class PostgresDriver implements SqlDriver {
  readonly dialect = "postgres" as const;
  readonly #url: string;
  readonly #schema: string;
  readonly #pool: pg.Pool;
  readonly #texts = new Map<string, { text: string; name: string | undefined }>();
  readonly #channels = new Map<string, Set<(payload: string) => void>>();
  readonly #reconnected = new Set<() => void>();
  #listener: pg.Client | undefined;
  /** Whether a listening connection was ever up: the next one is a reconnect. */
  #listenedBefore = false;
  #listenerReady: Promise<pg.Client> | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(connectionString: string, schema: string, poolSize: number) {
    this.#url = connectionString;
    this.#schema = schema;
    this.#pool = new pg.Pool({
      connectionString,
      max: poolSize,
      application_name: `kiln/${schema}`,
      // random_page_cost 1.1 (the usual setting for SSDs and cached data) for these sessions only:
      // with the default 4, batch writes of a few hundred runs scan the whole table instead of
      // probing the primary key.
      options: `-c search_path=${schema} -c random_page_cost=1.1`,
      types: TYPES,
      // Statements issued together (Promise.all in the store) go out back to back and their
      // answers come back in order: one round trip instead of one per statement.
      pipeline: true,
    });
    // An idle connection that dies (server restart) must not crash the process; the pool
    // replaces it on the next checkout.
    this.#pool.on("error", () => {});
    // pg-pool's own query() listens with `once`: a dropped connection can emit a second 'error'
    // (the FATAL 57P01 message, then the socket's end) after that listener is gone, which would
    // end the process. Every connection keeps a listener for its whole life; the statement that
    // was running still fails (STORE_UNAVAILABLE, retryable) and the pool drops the connection.
    this.#pool.on("connect", (client) => {
      client.on("error", () => {});
    });
  }

  #unavailable(cause: unknown): KilnError {
    return new KilnError(
      "STORE_UNAVAILABLE",
      `Could not reach PostgreSQL at ${redact(this.#url)}: ${(cause as Error).message}. Check that the server is running and reachable, and that the host, port, user, password and database in the connection string are right.`,
      { cause },
    );
  }

  /** Connection-level failures become STORE_UNAVAILABLE (retryable); SQL errors pass through. */
  #wrap(error: unknown): unknown {
    if (error instanceof KilnError) return error;
    const state = sqlState(error);
    const sqlError = state !== undefined && /^[0-9A-Z]{5}$/.test(state);
    if (!sqlError || state.startsWith("08") || state === "57P01" || state === "57P03") return this.#unavailable(error);
    return error;
  }

  async #connect(): Promise<pg.PoolClient> {
    if (this.#closed) throw new KilnError("STORE_UNAVAILABLE", "The PostgreSQL store is closed");
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw this.#unavailable(error);
    }
  }

  /**
   * Runs `fn` on a checked-out connection and releases it. The pool listens for errors only on
   * idle connections: a checked-out one that drops (backend terminated, server restart, reset)
   * emits 'error' with no listener, which would end the process. Our listener records the loss,
   * so the connection is destroyed on release (the pool opens a fresh one) and the caller gets
   * STORE_UNAVAILABLE (retryable) from its failed statement.
   */
  async #withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost ??= error;
    };
    client.on("error", onError);
    let failure: unknown;
    try {
      return await fn(client);
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      client.removeListener("error", onError);
      const broken = failure instanceof BrokenConnection ? (failure.cause as Error) : undefined;
      client.release(lost ?? broken);
    }
  }

  /** Creates the schema if missing and migrates it, one process at a time. */
  async prepareSchema(): Promise<void> {
    await this.#withClient(async (client) => this.#migrateOn(client));
  }

  async #migrateOn(client: pg.PoolClient): Promise<void> {
    try {
      await client.query("SELECT pg_advisory_lock(hashtext($1))", [`kiln:migrate:${this.#schema}`]);
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.#schema}"`);
        // Migrate on the locked connection itself, so a pool of one connection works too.
        await migrate({
          dialect: this.dialect,
          run: async (sql, params = []) => (await client.query(this.#query(sql, params))).rowCount ?? 0,
          transaction: (fn) => this.#transactionOn(client, fn),
        });
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [`kiln:migrate:${this.#schema}`]);
      }
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  #query(sql: string, params: readonly SqlParam[]): pg.QueryConfig {
    let prepared = this.#texts.get(sql);
    if (!prepared) {
      // DDL is run once; everything else is prepared per connection under a stable name.
      const ddl = /^\s*(CREATE|ALTER|DROP)\b/i.test(sql);
      prepared = { text: numberPlaceholders(sql), name: ddl ? undefined : `kiln_${this.#texts.size}` };
      this.#texts.set(sql, prepared);
    }
    const config: pg.QueryConfig = { text: prepared.text, values: params as unknown[] };
    if (prepared.name !== undefined) config.name = prepared.name;
    return config;
  }

  async all<T extends object>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    try {
      return (await this.#pool.query(this.#query(sql, params))).rows as T[];
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  async run(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    try {
      return (await this.#pool.query(this.#query(sql, params))).rowCount ?? 0;
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        // A connection that could not even roll back (or that dropped) is destroyed on release.
        return await this.#withClient((client) => this.#transactionOn(client, fn));
      } catch (error) {
        failure = error instanceof BrokenConnection ? error.cause : error;
      }
      const state = sqlState(failure);
      if (state === undefined || !RETRY_STATES.has(state) || attempt >= MAX_TX_ATTEMPTS) throw this.#wrap(failure);
      // Deadlock or serialization failure: run the whole transaction again after a short,
      // random pause so that the contenders do not collide again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }

  /** One transaction on a checked-out connection (not released here). */
  async #transactionOn<T>(client: pg.PoolClient, fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    let open = true;
    const cork = burstWriter(client);
    // Notifications are sent with COMMIT, in the same write (PostgreSQL delivers them at commit).
    const notes: [string, string][] = [];
    const guard = () => {
      if (!open) throw new Error("statement on a finished transaction");
      cork();
    };
    const tx: SqlTransaction = {
      all: async <R extends object>(sql: string, params: readonly SqlParam[] = []) => {
        guard();
        return (await client.query(this.#query(sql, params))).rows as R[];
      },
      run: async (sql, params = []) => {
        guard();
        return (await client.query(this.#query(sql, params))).rowCount ?? 0;
      },
      notify: async (channel, payload) => {
        guard();
        notes.push([channel, payload]);
      },
      commit: () => {
        guard();
        ending = sendCommit();
        open = false;
      },
    };
    // Notifications and COMMIT, in one write after the statements issued before them.
    const sendCommit = (): Promise<PromiseSettledResult<pg.QueryResult>[]> => {
      cork();
      const sends = notes.map(([channel, payload]) =>
        client.query(this.#query("SELECT pg_notify(?, ?)", [channel, this.#scoped(payload)])),
      );
      return Promise.allSettled([...sends, client.query("COMMIT")]);
    };
    let ending: Promise<PromiseSettledResult<pg.QueryResult>[]> | undefined;
    // BEGIN travels in the same write as the transaction's first statements.
    cork();
    const begin = client.query("BEGIN");
    begin.catch(() => {});
    try {
      const result = await fn(tx);
      await begin;
      const outcomes = await (ending ?? sendCommit());
      for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
      const commit = outcomes.at(-1) as PromiseFulfilledResult<pg.QueryResult>;
      // After a failed statement PostgreSQL answers COMMIT with ROLLBACK instead of an error.
      if (commit.value.command !== "COMMIT") throw new Error(`The transaction ended with ${commit.value.command}`);
      return result;
    } catch (error) {
      try {
        await client.query("ROLLBACK");
      } catch {
        throw new BrokenConnection(error);
      }
      throw error;
    } finally {
      open = false;
    }
  }

  /** Stores in other schemas of the same database share the channel; the payload names ours. */
  #scoped(payload: string): string {
    return JSON.stringify({ schema: this.#schema, ...(JSON.parse(payload) as object) });
  }

  #deliver(channel: string, payload: string | undefined): void {
    const handlers = this.#channels.get(channel);
    if (!handlers || payload === undefined) return;
    let body: { schema?: unknown };
    try {
      body = JSON.parse(payload) as { schema?: unknown };
    } catch {
      return;
    }
    if (body.schema !== this.#schema) return;
    for (const handler of handlers) {
      try {
        handler(payload);
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  async #listenClient(): Promise<pg.Client> {
    if (this.#listener) return this.#listener;
    this.#listenerReady ??= (async () => {
      const client = new pg.Client({
        connectionString: this.#url,
        types: TYPES,
        application_name: `kiln-listen/${this.#schema}`,
      });
      client.on("notification", (msg) => this.#deliver(msg.channel, msg.payload));
      const lost = () => {
        if (this.#listener !== client) return;
        this.#listener = undefined;
        client.end().catch(() => {});
        this.#scheduleReconnect();
      };
      client.on("error", lost);
      client.on("end", lost);
      try {
        await client.connect();
        for (const channel of this.#channels.keys()) await client.query(`LISTEN "${channel}"`);
      } catch (error) {
        client.end().catch(() => {});
        throw this.#unavailable(error);
      }
      this.#listener = client;
      // Payloads sent while no connection listened are lost: listeners re-read what they await.
      if (this.#listenedBefore) for (const resync of [...this.#reconnected]) resync();
      this.#listenedBefore = true;
      return client;
    })().finally(() => {
      this.#listenerReady = undefined;
    });
    return this.#listenerReady;
  }

  /** LISTEN survives a lost connection: reconnect (and re-LISTEN) while anyone listens. */
  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnect || this.#channels.size === 0) return;
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      this.#listenClient().catch(() => this.#scheduleReconnect());
    }, 1000);
    this.#reconnect.unref();
  }

  async listen(
    channel: string,
    handler: (payload: string) => void,
    options: Readonly<{ onReconnect?: () => void }> = {},
  ): Promise<() => Promise<void>> {
    let handlers = this.#channels.get(channel);
    const first = !handlers;
    if (!handlers) this.#channels.set(channel, (handlers = new Set()));
    const own = (payload: string) => handler(payload);
    handlers.add(own);
    const resync = options.onReconnect ? () => options.onReconnect?.() : undefined;
    if (resync) this.#reconnected.add(resync);
    try {
      const client = await this.#listenClient();
      if (first) await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      handlers.delete(own);
      if (resync) this.#reconnected.delete(resync);
      if (handlers.size === 0) this.#channels.delete(channel);
      throw this.#wrap(error);
    }
    return async () => {
      handlers.delete(own);
      if (resync) this.#reconnected.delete(resync);
      if (handlers.size > 0 || this.#channels.get(channel) !== handlers) return;
      this.#channels.delete(channel);
      await this.#listener?.query(`UNLISTEN "${channel}"`).catch(() => {});
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnect);
    this.#channels.clear();
    const listener = this.#listener ?? (await this.#listenerReady?.catch(() => undefined));
    this.#listener = undefined;
    await listener?.end().catch(() => {});
    await this.#pool.end();
  }
}
