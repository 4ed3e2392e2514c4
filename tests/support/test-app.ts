// The HTTP app on a real test store (SQLite in memory or a fresh PostgreSQL schema), with a
// temporary data directory and tokens of every role, for server tests that use app.request().
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type KilnApp } from "../../src/server/app.ts";
import { silentLogger } from "../../src/server/logger.ts";
import type { AppOptions } from "../../src/server/server-deps.ts";
import type { TokenRole } from "../../src/store/control-store.ts";
import type { Store, StoreOptions } from "../../src/store/store.ts";
import { openTestPostgres, openTestSqlite, type TestStore } from "./test-db.ts";

/** Which database a server test runs on. */
export type Dialect = "sqlite" | "postgres";

/** A request to the app: JSON body, token and namespace shortcuts. */
export interface TestRequest {
  readonly method?: string;
  readonly token?: string | null;
  readonly namespace?: string;
  readonly json?: unknown;
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

/** The app, its store, and a token per role in namespace `team` plus a `*` admin. */
export interface TestApp {
  readonly store: Store;
  readonly kiln: KilnApp;
  readonly dataDir: string;
  /** `admin` is the `*` admin; the others belong to namespace `team`. */
  readonly tokens: Readonly<Record<"root" | TokenRole, string>>;
  request(path: string, init?: TestRequest): Promise<Response>;
  /** request() and the parsed JSON body. */
  json<T = Record<string, unknown>>(path: string, init?: TestRequest): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** Opens a store and an app on it. */
export async function openTestApp(
  dialect: Dialect,
  options: Partial<AppOptions> & { storeOptions?: StoreOptions } = {},
): Promise<TestApp> {
  const db: TestStore =
    dialect === "sqlite" ? await openTestSqlite(options.storeOptions) : await openTestPostgres(options.storeOptions);
  const dataDir = mkdtempSync(join(tmpdir(), "kiln-app-"));
  const kiln = createApp({ logger: silentLogger(), dataDir, ...options, store: db.store });
  await db.store.createNamespace({ name: "team" });
  const make = async (namespace: string, role: TokenRole) =>
    (await db.store.createToken({ name: `${namespace}-${role}`, namespace, role })).plaintext;
  const tokens = {
    root: await make("*", "admin"),
    admin: await make("team", "admin"),
    developer: await make("team", "developer"),
    viewer: await make("team", "viewer"),
    worker: await make("team", "worker"),
  };
  const request = (path: string, init: TestRequest = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? tokens.root : init.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (init.namespace !== undefined) headers["kiln-namespace"] = init.namespace;
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] = "application/json";
    }
    return Promise.resolve(
      kiln.app.request(path, {
        method: init.method ?? (body === undefined ? "GET" : "POST"),
        headers,
        ...(body === undefined ? {} : { body }),
      }),
    );
  };
  return {
    store: db.store,
    kiln,
    dataDir,
    tokens,
    request,
    json: async <T>(path: string, init?: TestRequest) => {
      const res = await request(path, init);
      const text = await res.text();
      return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as T };
    },
    close: async () => {
      await kiln.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
