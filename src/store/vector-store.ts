/**
 * Vectors kept in Kiln's own database for the flow nodes `vector.upsert` and `vector.query`:
 * items (id, vector, text, metadata) in named collections, per namespace, searched by cosine
 * distance. SQLite uses the sqlite-vec extension's distance functions; PostgreSQL uses pgvector
 * where the extension is available. Search is exact (a scan of the collection), which suits the
 * collection sizes of a workflow engine's database; an approximate index is a later step.
 */

/** One item to store. Upserting an existing id replaces it. */
export interface VectorItem {
  readonly id: string;
  readonly vector: readonly number[];
  readonly text?: string | null;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** A found item, nearest first. `distance` is the cosine distance (0 = same direction). */
export interface VectorMatch {
  readonly id: string;
  readonly text: string | null;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly distance: number;
}

/** Params of upsertVectors. */
export interface UpsertVectorsParams {
  readonly namespace: string;
  readonly collection: string;
  readonly items: readonly VectorItem[];
  /** Milliseconds since the epoch, recorded per item. */
  readonly now: number;
}

/** Params of queryVectors. */
export interface QueryVectorsParams {
  readonly namespace: string;
  readonly collection: string;
  readonly vector: readonly number[];
  readonly limit: number;
}

/** Params of deleteVectors. */
export interface DeleteVectorsParams {
  readonly namespace: string;
  readonly collection: string;
  readonly ids: readonly string[];
}

/** A vector store over one database. */
export interface VectorStore {
  /** What the store runs on, for messages (`sqlite-vec v0.1.9`, `pgvector 0.8.0`). */
  readonly engine: string;
  /** Stores items; fails with VECTOR_DIMENSION_MISMATCH when their length differs from the collection's. */
  upsertVectors(p: Readonly<UpsertVectorsParams>): Promise<{ readonly upserted: number }>;
  /** The `limit` items nearest to `vector` (an empty list for an unknown collection). */
  queryVectors(p: Readonly<QueryVectorsParams>): Promise<VectorMatch[]>;
  /** Removes items by id; returns how many were there. */
  deleteVectors(p: Readonly<DeleteVectorsParams>): Promise<{ readonly deleted: number }>;
  close(): Promise<void>;
}
