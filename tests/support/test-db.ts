// Real databases for tests: SQLite in memory, and PostgreSQL in a fresh random schema per call
// (dropped on close) of the database KILN_TEST_DATABASE_URL names. scripts/run-tests.mjs starts a
// throwaway cluster and sets that variable. No mocks.
import { randomBytes } from "node:crypto";
import { describe } from "node:test";
import pg from "pg";
import { PostgresStore } from "../../src/store/postgres/postgres-store.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { Store, StoreOptions } from "../../src/store/store.ts";

/** A store opened for one test (or file), and how to dispose of it. */
export interface TestStore {
  readonly store: Store;
  /** PostgreSQL: the throwaway schema. */
  readonly schema?: string;
  /** Closes the store and throws its data away (PostgreSQL: drops the schema). */
  close(): Promise<void>;
  /**
   * Opens a second store instance on the same data, as another server process would (closed by
   * `close()` too). SQLite in memory has no second instance: the same store is returned.
   */
  openSibling(options?: Readonly<StoreOptions>): Promise<Store>;
}

/** A SQLite store in memory. */
export async function openTestSqlite(options: Readonly<StoreOptions> = {}): Promise<TestStore> {
  const store = await SqliteStore.open(":memory:", options);
  return {
    store,
    close: () => store.close(),
    openSibling: async () => store,
  };
}

let warned = false;

/**
 * The PostgreSQL URL for tests, or undefined when PostgreSQL tests must be skipped. Without
 * KILN_TEST_DATABASE_URL this throws under CI=true (PostgreSQL tests may never be skipped in CI)
 * and otherwise warns loudly, once.
 */
export function postgresTestUrl(): string | undefined {
  const url = process.env.KILN_TEST_DATABASE_URL;
  if (url) return url;
  if (process.env.CI === "true") {
    throw new Error("KILN_TEST_DATABASE_URL is not set: under CI=true the PostgreSQL tests must run, not be skipped");
  }
  if (!warned) {
    warned = true;
    console.warn(
      "\n#################################################################################\n" +
        "#### WARNING: KILN_TEST_DATABASE_URL is not set: PostgreSQL tests are SKIPPED ####\n" +
        "#### Run the tests with `node scripts/run-tests.mjs` to get a throwaway cluster ####\n" +
        "#################################################################################\n",
    );
  }
  return undefined;
}

/** `describe(name, { skip: postgresSkip() })`: a reason to skip PostgreSQL tests, or false. */
export function postgresSkip(): string | false {
  return postgresTestUrl() === undefined ? "KILN_TEST_DATABASE_URL is not set" : false;
}

/** A PostgreSQL store in a fresh schema `kiln_test_<random>`, dropped by `close()`. */
export async function openTestPostgres(options: Readonly<StoreOptions> = {}): Promise<TestStore> {
  const url = postgresTestUrl();
  if (url === undefined) {
    throw new Error("KILN_TEST_DATABASE_URL is not set; skip PostgreSQL tests with postgresSkip()");
  }
  const schema = `kiln_test_${randomBytes(6).toString("hex")}`;
  const store = await PostgresStore.open({ connectionString: url, schema, poolSize: 8 }, options);
  const siblings: Store[] = [store];
  return {
    store,
    schema,
    openSibling: async (siblingOptions = options) => {
      const sibling = await PostgresStore.open({ connectionString: url, schema, poolSize: 4 }, siblingOptions);
      siblings.push(sibling);
      return sibling;
    },
    close: async () => {
      await Promise.all(siblings.map((s) => s.close()));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The two store implementations every store-backed suite runs on. */
export type StoreDialect = "sqlite" | "postgres";

/** One store implementation a suite runs on: how to open a fresh store, and why it is skipped. */
export interface StoreKind {
  readonly dialect: StoreDialect;
  /** A fresh store: SQLite in memory, or a new PostgreSQL schema (dropped by its `close()`). */
  open(options?: Readonly<StoreOptions>): Promise<TestStore>;
  /** A reason to skip (no PostgreSQL outside CI), or false. */
  readonly skip: string | false;
}

/** SQLite in memory, then the throwaway PostgreSQL (the base of the contract store helpers below). */
export function storeKinds(): readonly StoreKind[] {
  return [
    { dialect: "sqlite", open: openTestSqlite, skip: false },
    { dialect: "postgres", open: openTestPostgres, skip: postgresSkip() },
  ];
}

/**
 * Declares the suite `fn` once per store: `describe("<name> on sqlite")` and `describe("<name> on
 * postgres")`, the latter skipped with a reason when no PostgreSQL is available (never under CI).
 */
export function forEachStore(name: string, fn: (kind: StoreKind) => void): void {
  for (const kind of storeKinds()) describe(`${name} on ${kind.dialect}`, { skip: kind.skip }, () => fn(kind));
}

/**
 * The stores a PostgreSQL run of a store contract uses: each `open` is a fresh schema, `close`
 * drops it, `openSibling` opens another instance on the same schema (as another server would).
 */
export function postgresContractStores() {
  const postgres = storeKinds()[1] as StoreKind;
  return contractStores(postgres.open, postgres.skip);
}

/**
 * The stores a SQLite run of a store contract uses: each `open` is a fresh in-memory database.
 * No `openSibling`: an in-memory database has no second instance, so the contract reuses `store`.
 */
export function sqliteContractStores() {
  const sqlite = storeKinds()[0] as StoreKind;
  const { openSibling: _, ...stores } = contractStores(sqlite.open, sqlite.skip);
  return stores;
}

function contractStores(openTest: (options?: Readonly<StoreOptions>) => Promise<TestStore>, skip: string | false) {
  const open = new Map<Store, TestStore>();
  return {
    skip,
    open: async (options?: Readonly<StoreOptions>): Promise<Store> => {
      const t = await openTest(options);
      open.set(t.store, t);
      return t.store;
    },
    close: async (store: Store): Promise<void> => {
      await open.get(store)?.close();
      open.delete(store);
    },
    openSibling: async (store: Store): Promise<Store> => {
      const t = open.get(store);
      if (!t) throw new Error("unknown store");
      return t.openSibling();
    },
  };
}
