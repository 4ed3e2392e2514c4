import type { VectorStore } from "./vector-store.ts";

/**
 * Opens the vector store of the database a store URL names (the same forms as openStore:
 * `postgres://…[?schema=NAME]`, `sqlite:PATH`, a file path, `:memory:`).
 */
export async function openVectorStore(url: string): Promise<VectorStore> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { PostgresVectorStore } = await import("./postgres/postgres-vectors.ts");
    const parsed = new URL(url);
    const schema = parsed.searchParams.get("schema") ?? undefined;
    parsed.searchParams.delete("schema");
    return await PostgresVectorStore.open({
      connectionString: parsed.toString(),
      ...(schema === undefined ? {} : { schema }),
    });
  }
  const { SqliteVectorStore } = await import("./sqlite/sqlite-vectors.ts");
  return await SqliteVectorStore.open(url.startsWith("sqlite:") ? url.slice("sqlite:".length) : url);
}

/** A vector store opened on first use and shared afterwards (a worker whose flows may never use one). */
export interface LazyVectorStore {
  get(): Promise<VectorStore>;
  close(): Promise<void>;
}

/** Opens `url`'s vector store when first asked; a failed open is retried on the next ask. */
export function lazyVectorStore(url: string): LazyVectorStore {
  let opening: Promise<VectorStore> | undefined;
  return {
    get() {
      opening ??= openVectorStore(url).catch((error: unknown) => {
        opening = undefined;
        throw error;
      });
      return opening;
    },
    async close() {
      const store = await opening?.catch(() => undefined);
      opening = undefined;
      await store?.close();
    },
  };
}
