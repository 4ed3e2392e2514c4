import pg from "pg";
import { KilnError } from "../../errors.ts";
import { checkDimensions } from "../vector-checks.ts";
import type { QueryVectorsParams, UpsertVectorsParams, VectorMatch, VectorStore } from "../vector-store.ts";

const DDL = `CREATE TABLE IF NOT EXISTS flow_vectors (
  namespace text NOT NULL,
  collection text NOT NULL,
  id text NOT NULL,
  dimensions integer NOT NULL,
  embedding vector NOT NULL,
  text text,
  metadata jsonb NOT NULL DEFAULT '{}',
  updated_at bigint NOT NULL,
  PRIMARY KEY (namespace, collection, id)
)`;

/** Whether the server can provide pgvector: installed in the database, or available to install. */
export async function detectPgvector(
  connectionString: string,
): Promise<{ available: boolean; version: string | null }> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const { rows } = await client.query<{ installed_version: string | null; default_version: string }>(
      "SELECT installed_version, default_version FROM pg_available_extensions WHERE name = 'vector'",
    );
    const row = rows[0];
    return {
      available: row !== undefined,
      version: row === undefined ? null : (row.installed_version ?? row.default_version),
    };
  } finally {
    await client.end();
  }
}

/**
 * Vectors in Kiln's PostgreSQL schema with pgvector: the extension is created (in `public`, so
 * every schema's search_path sees the type) and the table created on first open. Without the
 * extension on the server, opening fails with VECTOR_STORE_UNAVAILABLE saying so.
 */
export class PostgresVectorStore implements VectorStore {
  readonly engine: string;
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool, engine: string) {
    this.#pool = pool;
    this.engine = engine;
  }

  /** Connects to `schema` of the database, creating the extension and table when missing. */
  static async open(p: Readonly<{ connectionString: string; schema?: string }>): Promise<PostgresVectorStore> {
    const schema = p.schema ?? "public";
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new KilnError(
        "INVALID_CONFIG",
        `Expected the PostgreSQL schema to be a lower-case identifier, got ${JSON.stringify(schema)}`,
      );
    }
    const pgvector = await detectPgvector(p.connectionString);
    if (!pgvector.available) {
      throw new KilnError(
        "VECTOR_STORE_UNAVAILABLE",
        "This PostgreSQL server has no pgvector extension: install it (e.g. the postgresql-NN-pgvector package) to use the vector nodes, or run them on SQLite",
      );
    }
    const pool = new pg.Pool({
      connectionString: p.connectionString,
      max: 4,
      options: `-c search_path=${schema},public`,
    });
    pool.on("error", () => {});
    try {
      await pool.query("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public");
      await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await pool.query(DDL);
    } catch (error) {
      await pool.end();
      throw new KilnError("VECTOR_STORE_UNAVAILABLE", `Could not set up pgvector: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new PostgresVectorStore(pool, `pgvector ${pgvector.version}`);
  }

  async #dimensions(namespace: string, collection: string): Promise<number | undefined> {
    const { rows } = await this.#pool.query<{ dimensions: number }>(
      "SELECT dimensions FROM flow_vectors WHERE namespace = $1 AND collection = $2 LIMIT 1",
      [namespace, collection],
    );
    return rows[0]?.dimensions;
  }

  async upsertVectors(p: Readonly<UpsertVectorsParams>) {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      // One writer per collection at a time, so two first upserts cannot store different lengths.
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`kiln:vectors:${p.namespace}:${p.collection}`]);
      const { rows } = await client.query<{ dimensions: number }>(
        "SELECT dimensions FROM flow_vectors WHERE namespace = $1 AND collection = $2 LIMIT 1",
        [p.namespace, p.collection],
      );
      const dimensions = checkDimensions(
        p.collection,
        p.items.map((item) => item.vector),
        rows[0]?.dimensions,
      );
      await client.query(
        `INSERT INTO flow_vectors (namespace, collection, id, dimensions, embedding, text, metadata, updated_at)
         SELECT $1, $2, v.id, $3, v.embedding::vector, v.text, v.metadata::jsonb, $4
         FROM unnest($5::text[], $6::text[], $7::text[], $8::text[]) AS v(id, embedding, text, metadata)
         ON CONFLICT (namespace, collection, id) DO UPDATE SET
           dimensions = excluded.dimensions, embedding = excluded.embedding, text = excluded.text,
           metadata = excluded.metadata, updated_at = excluded.updated_at`,
        [
          p.namespace,
          p.collection,
          dimensions,
          p.now,
          p.items.map((item) => item.id),
          p.items.map((item) => JSON.stringify(item.vector)),
          p.items.map((item) => item.text ?? null),
          p.items.map((item) => JSON.stringify(item.metadata ?? {})),
        ],
      );
      await client.query("COMMIT");
      return { upserted: p.items.length };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async queryVectors(p: Readonly<QueryVectorsParams>): Promise<VectorMatch[]> {
    const dimensions = await this.#dimensions(p.namespace, p.collection);
    if (dimensions === undefined) return [];
    checkDimensions(p.collection, [p.vector], dimensions);
    const { rows } = await this.#pool.query<{
      id: string;
      text: string | null;
      metadata: Record<string, unknown>;
      distance: number;
    }>(
      `SELECT id, text, metadata, (embedding <=> $3::vector)::float8 AS distance
       FROM flow_vectors WHERE namespace = $1 AND collection = $2
       ORDER BY distance, id LIMIT $4`,
      [p.namespace, p.collection, JSON.stringify(p.vector), p.limit],
    );
    return rows.map((row) => ({ id: row.id, text: row.text, metadata: row.metadata, distance: Number(row.distance) }));
  }

  async deleteVectors(p: Readonly<{ namespace: string; collection: string; ids: readonly string[] }>) {
    const result = await this.#pool.query(
      "DELETE FROM flow_vectors WHERE namespace = $1 AND collection = $2 AND id = ANY($3::text[])",
      [p.namespace, p.collection, p.ids],
    );
    return { deleted: result.rowCount ?? 0 };
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
