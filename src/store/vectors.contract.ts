import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { KilnError } from "../errors.ts";
import type { VectorStore } from "./vector-store.ts";

/** The behaviour every vector store shares, run on SQLite (sqlite-vec) and PostgreSQL (pgvector). */
export function vectorStoreContract(open: () => Promise<VectorStore>): void {
  let store: VectorStore;
  before(async () => {
    store = await open();
  });
  after(async () => {
    await store?.close();
  });

  it("returns the nearest items by cosine distance, per namespace and collection; upsert replaces", async () => {
    const items = [
      { id: "east", vector: [1, 0, 0], text: "sunrise", metadata: { page: 1 } },
      { id: "north", vector: [0, 1, 0], text: "cold" },
      { id: "north-east", vector: [1, 1, 0], text: "between" },
    ];
    assert.deepEqual(await store.upsertVectors({ namespace: "a", collection: "compass", items, now: 1 }), {
      upserted: 3,
    });
    await store.upsertVectors({
      namespace: "b",
      collection: "compass",
      items: [{ id: "east", vector: [1, 0, 0] }],
      now: 1,
    });
    const found = await store.queryVectors({ namespace: "a", collection: "compass", vector: [0.9, 0.1, 0], limit: 2 });
    assert.deepEqual(
      found.map((m) => m.id),
      ["east", "north-east"],
    );
    assert.equal(found[0]?.text, "sunrise");
    assert.deepEqual(found[0]?.metadata, { page: 1 });
    assert.ok((found[0]?.distance ?? 1) < (found[1]?.distance ?? 0));
    await store.upsertVectors({
      namespace: "a",
      collection: "compass",
      items: [{ id: "east", vector: [0, 0, 1], text: "moved" }],
      now: 2,
    });
    const again = await store.queryVectors({ namespace: "a", collection: "compass", vector: [0, 0, 1], limit: 1 });
    assert.deepEqual(
      again.map((m) => [m.id, m.text]),
      [["east", "moved"]],
    );
    assert.ok(Math.abs(again[0]?.distance ?? 1) < 1e-6);
    assert.deepEqual(
      await store.queryVectors({ namespace: "a", collection: "nothing", vector: [1, 0, 0], limit: 5 }),
      [],
    );
    assert.deepEqual(await store.deleteVectors({ namespace: "a", collection: "compass", ids: ["east", "gone"] }), {
      deleted: 1,
    });
    const left = await store.queryVectors({ namespace: "a", collection: "compass", vector: [1, 0, 0], limit: 5 });
    assert.deepEqual(left.map((m) => m.id).sort(), ["north", "north-east"]);
  });

  it("refuses vectors of another length than the collection's with VECTOR_DIMENSION_MISMATCH", async () => {
    await store.upsertVectors({ namespace: "a", collection: "dims", items: [{ id: "x", vector: [1, 2] }], now: 1 });
    for (const attempt of [
      () =>
        store.upsertVectors({ namespace: "a", collection: "dims", items: [{ id: "y", vector: [1, 2, 3] }], now: 1 }),
      () => store.queryVectors({ namespace: "a", collection: "dims", vector: [1], limit: 1 }),
    ]) {
      await assert.rejects(
        attempt,
        (error: unknown) => error instanceof KilnError && error.code === "VECTOR_DIMENSION_MISMATCH",
      );
    }
  });
}
