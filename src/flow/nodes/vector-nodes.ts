import { describeValue } from "../../config/config-problems.ts";
import { KilnError } from "../../errors.ts";
import type { VectorItem, VectorStore } from "../../store/vector-store.ts";
import type { FlowServices, StepNodeType } from "./node-api.ts";
import { badParam, checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";

const UPSERT_RULES: ParamRules = {
  collection: { kind: "string", required: true, description: "the collection, in the run's namespace" },
  items: { kind: "array", required: true, description: "the items to store: { id, text?, metadata?, vector? }" },
  vectors: { kind: "array", description: "one vector per item, in order (e.g. an embed node's embeddings)" },
};

const QUERY_RULES: ParamRules = {
  collection: { kind: "string", required: true, description: "the collection, in the run's namespace" },
  vector: { kind: "array", required: true, description: "the query vector: a non-empty list of numbers" },
  top_k: { kind: "integer", description: "how many nearest items, 1 to 100 (default 5)" },
};

/** The vector store of the worker's database, or VECTOR_STORE_UNAVAILABLE saying where the nodes can run. */
export async function vectorStoreOf(type: string, services: FlowServices): Promise<VectorStore> {
  if (services.vectors === undefined) {
    throw new KilnError(
      "VECTOR_STORE_UNAVAILABLE",
      `A ${type} node needs Kiln's database: run it on a worker that has one (kiln dev, or kiln worker --db)`,
    );
  }
  return await services.vectors.get();
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

const isVector = (value: unknown): value is number[] =>
  Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "number" && Number.isFinite(v));

/** The items of a vector.upsert: each `{ id, text?, metadata?, vector? }`, vectors from `vectors` when given. */
function upsertItems(items: readonly unknown[], vectors: readonly unknown[] | undefined): VectorItem[] {
  if (vectors !== undefined && vectors.length !== items.length) {
    throw new KilnError(
      "INVALID_INPUT",
      `vector.upsert got ${items.length} items but ${vectors.length} vectors; give one vector per item`,
    );
  }
  return items.map((item, i) => {
    if (!isRecord(item) || (typeof item.id !== "string" && typeof item.id !== "number")) {
      throw badParam("vector.upsert", `items[${i}]`, "a mapping with an id", item);
    }
    const vector = vectors?.[i] ?? item.vector;
    if (!isVector(vector)) throw badParam("vector.upsert", `items[${i}].vector`, "a non-empty list of numbers", vector);
    if (item.metadata !== undefined && !isRecord(item.metadata))
      throw badParam("vector.upsert", `items[${i}].metadata`, "a mapping", item.metadata);
    return {
      id: String(item.id),
      vector,
      text: typeof item.text === "string" ? item.text : null,
      ...(item.metadata === undefined ? {} : { metadata: item.metadata as Record<string, unknown> }),
    };
  });
}

/**
 * `vector.upsert`: stores `items` (`{ id, text?, metadata?, vector? }`) in `collection` of the
 * run's namespace in Kiln's database; `vectors` (e.g. an embed node's `embeddings`) gives the
 * vectors in item order. Re-running it is harmless: an id is replaced, not duplicated.
 */
export const vectorUpsertNode: StepNodeType = {
  type: "vector.upsert",
  kind: "step",
  description: "Stores items with their vectors in a collection of Kiln's database (sqlite-vec / pgvector)",
  params: UPSERT_RULES,
  checkParams: (params) => checkParamRules("vector.upsert", UPSERT_RULES, params),
  async run(params, ctx) {
    const read = paramReader("vector.upsert", params);
    const collection = read.requiredString("collection");
    const items = upsertItems(read.list("items") ?? [], read.list("vectors"));
    const store = await vectorStoreOf("vector.upsert", ctx.services);
    const { upserted } = await store.upsertVectors({
      namespace: ctx.run.namespace,
      collection,
      items,
      now: Date.now(),
    });
    ctx.log(`${upserted} item(s) stored in "${collection}" (${store.engine})`);
    return { collection, upserted, ids: items.map((item) => item.id), store: store.engine };
  },
};

/**
 * `vector.query`: the `top_k` (default 5) items of `collection` nearest to `vector` by cosine
 * distance. The output is `{ matches: [{ id, text, metadata, distance, score }] }`, nearest first
 * (`score` = 1 − distance).
 */
export const vectorQueryNode: StepNodeType = {
  type: "vector.query",
  kind: "step",
  description: "Finds the items of a collection nearest to a vector; output { matches }",
  params: QUERY_RULES,
  checkParams: (params) => checkParamRules("vector.query", QUERY_RULES, params),
  async run(params, ctx) {
    const read = paramReader("vector.query", params);
    const collection = read.requiredString("collection");
    const vector = read.list("vector");
    if (!isVector(vector)) throw badParam("vector.query", "vector", "a non-empty list of numbers", vector);
    const limit = topK("vector.query", read.number("top_k"));
    const store = await vectorStoreOf("vector.query", ctx.services);
    const matches = await store.queryVectors({ namespace: ctx.run.namespace, collection, vector, limit });
    return { matches: matches.map((m) => ({ ...m, score: 1 - m.distance })), store: store.engine };
  },
};

/** A `top_k` param: a whole number from 1 to 100, default 5. */
export function topK(type: string, value: number | undefined): number {
  if (value === undefined) return 5;
  if (!Number.isInteger(value) || value < 1 || value > 100) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "top_k" of ${type} to be a whole number from 1 to 100, got ${describeValue(value)}`,
    );
  }
  return value;
}
