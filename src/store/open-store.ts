import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Store, StoreOptions } from "./store.ts";

/**
 * Opens the store a URL names: `postgres://…` / `postgresql://…` (PostgreSQL), `sqlite:PATH`,
 * a file path, or `:memory:` (SQLite). The directory of a SQLite file is created if missing.
 */
export async function openStore(url: string, options: StoreOptions & { schema?: string } = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { PostgresStore } = await import("./postgres/postgres-store.ts");
    return await PostgresStore.open(
      { connectionString: url, ...(options.schema === undefined ? {} : { schema: options.schema }) },
      options,
    );
  }
  const path = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const { SqliteStore } = await import("./sqlite/sqlite-store.ts");
  return await SqliteStore.open(path, options);
}
