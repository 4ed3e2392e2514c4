import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openTestPostgres, postgresSkip, postgresTestUrl, type TestStore } from "../../tests/support/test-db.ts";
import { KilnError } from "../errors.ts";
import { openVectorStore } from "./open-vector-store.ts";
import { detectPgvector, PostgresVectorStore } from "./postgres/postgres-vectors.ts";
import { SqliteVectorStore } from "./sqlite/sqlite-vectors.ts";
import { vectorStoreContract } from "./vectors.contract.ts";

describe("vector store (sqlite-vec)", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-vectors-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  vectorStoreContract(() => SqliteVectorStore.open(join(dir, "kiln.db")));

  it("keeps its items across reopening the database file (sqlite: URL form)", async () => {
    const url = `sqlite:${join(dir, "reopen.db")}`;
    const first = await openVectorStore(url);
    assert.match(first.engine, /^sqlite-vec v\d/);
    await first.upsertVectors({ namespace: "n", collection: "c", items: [{ id: "kept", vector: [1, 0] }], now: 1 });
    await first.close();
    const second = await openVectorStore(url);
    assert.deepEqual(
      (await second.queryVectors({ namespace: "n", collection: "c", vector: [1, 0], limit: 1 })).map((m) => m.id),
      ["kept"],
    );
    await second.close();
  });
});

const pgUrl = postgresTestUrl();
const pgvector = pgUrl === undefined ? { available: false, version: null } : await detectPgvector(pgUrl);

describe("vector store (postgres)", { skip: postgresSkip() }, () => {
  let db: TestStore | undefined;
  before(async () => {
    db = await openTestPostgres();
  });
  after(async () => {
    await db?.close();
  });
  const open = () => PostgresVectorStore.open({ connectionString: pgUrl as string, schema: db?.schema as string });

  it("detects whether the server has pgvector, and without it refuses with VECTOR_STORE_UNAVAILABLE saying so", async () => {
    if (pgvector.available) {
      const store = await open();
      assert.match(store.engine, /^pgvector /);
      await store.close();
    } else {
      await assert.rejects(
        open,
        (error: unknown) =>
          error instanceof KilnError &&
          error.code === "VECTOR_STORE_UNAVAILABLE" &&
          /no pgvector extension/.test(error.message),
      );
    }
  });

  // Debian bookworm's own archive has no postgresql-15-pgvector package (apt.postgresql.org has
  // it), so where it cannot be installed this part is skipped with that reason; SQLite covers it.
  describe("pgvector contract", {
    skip: pgvector.available
      ? false
      : "pgvector is not installed on this PostgreSQL server (apt: no postgresql-15-pgvector package in the Debian archive)",
  }, () => {
    vectorStoreContract(open);
  });
});
