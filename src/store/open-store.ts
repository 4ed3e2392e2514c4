import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Store, StoreOptions } from "./store.ts";

/**
 * Opens the store a URL names: `postgres://…[?schema=NAME]` (PostgreSQL), `sqlite:PATH`,
 * a file path, or `:memory:` (SQLite). The directory of a SQLite file is created if missing.
 */
export async function openStore(url: string, options: StoreOptions & { schema?: string } = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { PostgresStore } = await import("./postgres/postgres-store.ts");
    // `?schema=NAME` picks the schema (created if missing), so several Kilns can share a database.
    const parsed = new URL(url);
    const schema = options.schema ?? parsed.searchParams.get("schema") ?? undefined;
    parsed.searchParams.delete("schema");
    return await PostgresStore.open(
      { connectionString: parsed.toString(), ...(schema === undefined ? {} : { schema }) },
      options,
    );
  }
  const path = url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url;
  // Owner-only: the directory holds the database, the admin token and the master key.
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const { SqliteStore } = await import("./sqlite/sqlite-store.ts");
  return await SqliteStore.open(path, options);
}
