import Database from "better-sqlite3";
import * as sqliteVec from "sqlite-vec";
import { KilnError } from "../../errors.ts";
import { checkDimensions } from "../vector-checks.ts";
import type { QueryVectorsParams, UpsertVectorsParams, VectorMatch, VectorStore } from "../vector-store.ts";

const DDL = `CREATE TABLE IF NOT EXISTS flow_vectors (
  namespace TEXT NOT NULL,
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  dimensions INTEGER NOT NULL,
  embedding BLOB NOT NULL,
  text TEXT,
  metadata TEXT NOT NULL DEFAULT '{}',
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, collection, id)
)`;

/**
 * Vectors in a SQLite database (Kiln's own file, or `:memory:`) on its own connection, with the
 * sqlite-vec extension loaded into better-sqlite3. The table is created on first open, so an
 * existing database gains it without a migration; it holds nothing the run tables depend on.
 */
export class SqliteVectorStore implements VectorStore {
  readonly engine: string;
  readonly #db: Database.Database;

  private constructor(db: Database.Database, engine: string) {
    this.#db = db;
    this.engine = engine;
  }

  /** Opens the database at `path` and loads sqlite-vec. */
  static async open(path: string): Promise<SqliteVectorStore> {
    const db = new Database(path);
    try {
      db.pragma("busy_timeout = 5000");
      sqliteVec.load(db);
      db.exec(DDL);
      const version = (db.prepare("SELECT vec_version() AS v").get() as { v: string }).v;
      return new SqliteVectorStore(db, `sqlite-vec ${version}`);
    } catch (error) {
      db.close();
      throw new KilnError(
        "VECTOR_STORE_UNAVAILABLE",
        `Could not load sqlite-vec into ${path}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  #dimensions(namespace: string, collection: string): number | undefined {
    const row = this.#db
      .prepare("SELECT dimensions FROM flow_vectors WHERE namespace = ? AND collection = ? LIMIT 1")
      .get(namespace, collection) as { dimensions: number } | undefined;
    return row?.dimensions;
  }

  async upsertVectors(p: Readonly<UpsertVectorsParams>) {
    const insert = this.#db.prepare(
      `INSERT INTO flow_vectors (namespace, collection, id, dimensions, embedding, text, metadata, updated_at)
       VALUES (?, ?, ?, ?, vec_f32(?), ?, ?, ?)
       ON CONFLICT (namespace, collection, id) DO UPDATE SET
         dimensions = excluded.dimensions, embedding = excluded.embedding, text = excluded.text,
         metadata = excluded.metadata, updated_at = excluded.updated_at`,
    );
    this.#db.transaction(() => {
      const dimensions = checkDimensions(
        p.collection,
        p.items.map((item) => item.vector),
        this.#dimensions(p.namespace, p.collection),
      );
      for (const item of p.items) {
        insert.run(
          p.namespace,
          p.collection,
          item.id,
          dimensions,
          JSON.stringify(item.vector),
          item.text ?? null,
          JSON.stringify(item.metadata ?? {}),
          p.now,
        );
      }
    })();
    return { upserted: p.items.length };
  }

  async queryVectors(p: Readonly<QueryVectorsParams>): Promise<VectorMatch[]> {
    const dimensions = this.#dimensions(p.namespace, p.collection);
    if (dimensions === undefined) return [];
    checkDimensions(p.collection, [p.vector], dimensions);
    const rows = this.#db
      .prepare(
        `SELECT id, text, metadata, vec_distance_cosine(embedding, vec_f32(?)) AS distance
         FROM flow_vectors WHERE namespace = ? AND collection = ?
         ORDER BY distance, id LIMIT ?`,
      )
      .all(JSON.stringify(p.vector), p.namespace, p.collection, p.limit) as {
      id: string;
      text: string | null;
      metadata: string;
      distance: number;
    }[];
    return rows.map((row) => ({
      id: row.id,
      text: row.text,
      metadata: JSON.parse(row.metadata),
      distance: row.distance,
    }));
  }

  async deleteVectors(p: Readonly<{ namespace: string; collection: string; ids: readonly string[] }>) {
    const result = this.#db
      .prepare(
        "DELETE FROM flow_vectors WHERE namespace = ? AND collection = ? AND id IN (SELECT value FROM json_each(?))",
      )
      .run(p.namespace, p.collection, JSON.stringify(p.ids));
    return { deleted: result.changes };
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
