import { KilnError } from "../../errors.ts";
import type { NodeContext, NodeParams, StepNodeType } from "./node-api.ts";
import type { StorageRef } from "./object-store.ts";
import { badParam, checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";
import { type OpenedStore, openStore, readByRef, readRef, STORE_RULE, sha256Of } from "./storage-store.ts";

/**
 * `storage.put|get|list|delete` over a local directory or an S3-compatible bucket. Large values
 * travel by reference: storage.put records `{ location, key, size, sha256, content_type }` in the
 * run, not the value, and storage.get `as: ref` (or an email attachment) reads it back later.
 */

const DEFAULT_MAX_BYTES = 1024 * 1024;

const KEY_RULE = { kind: "string", description: "the object's key, a relative path like reports/a.json" } as const;
const REF_RULE = {
  kind: ["object", "string"],
  description: "a storage reference (a storage.put output) instead of key",
} as const;

const PUT_RULES: ParamRules = {
  store: { ...STORE_RULE, required: true },
  key: { ...KEY_RULE, required: true },
  value: { kind: "any", required: true, description: "what to store: a string, or JSON for anything else" },
  encoding: {
    kind: "string",
    values: ["utf8", "base64", "json"],
    description: "how value is written: utf8 (default for strings), base64 (bytes), json (default otherwise)",
  },
  content_type: { kind: "string", description: "MIME type (default text/plain, application/json or octet-stream)" },
};

const GET_RULES: ParamRules = {
  store: { ...STORE_RULE, required: true },
  key: KEY_RULE,
  ref: REF_RULE,
  as: {
    kind: "string",
    values: ["auto", "text", "json", "base64", "ref"],
    description:
      "auto (default: json for JSON objects, else text), text, json, base64, or ref (verify, output the reference only)",
  },
  max_bytes: { kind: "integer", description: "refuse values larger than this into run history (default 1 MiB)" },
};

const LIST_RULES: ParamRules = {
  store: { ...STORE_RULE, required: true },
  prefix: { kind: "string", description: "only keys starting with this" },
  limit: { kind: "integer", description: "at most this many (default 1000)" },
};

const DELETE_RULES: ParamRules = {
  store: { ...STORE_RULE, required: true },
  key: KEY_RULE,
  ref: REF_RULE,
};

async function withStore<T>(type: string, params: NodeParams, use: (store: OpenedStore) => Promise<T>): Promise<T> {
  const store = await openStore(type, params.store);
  try {
    return await use(store);
  } catch (error) {
    if (error instanceof KilnError) throw error;
    throw new KilnError("STORAGE_FAILED", `${type} on ${store.location} failed: ${(error as Error).message}`, {
      cause: error,
      retryable: true,
    });
  } finally {
    store.close();
  }
}

/** The key of a get/delete: `key`, or the key of `ref`. */
function targetKey(type: string, params: NodeParams): { key: string; ref: StorageRef | undefined } {
  const read = paramReader(type, params);
  const raw = read.raw("ref");
  const ref = raw === undefined || raw === null ? undefined : readRef(type, raw);
  const key = read.string("key") ?? ref?.key;
  if (key === undefined) throw new KilnError("INVALID_INPUT", `${type} needs "key" or "ref"`);
  return { key, ref };
}

function encodeValue(type: string, params: NodeParams): { body: Buffer; contentType: string } {
  const read = paramReader(type, params);
  const value = read.raw("value");
  const encoding = read.string("encoding") ?? (typeof value === "string" ? "utf8" : "json");
  const given = read.string("content_type");
  if (encoding === "json") {
    return { body: Buffer.from(JSON.stringify(value ?? null)), contentType: given ?? "application/json" };
  }
  if (typeof value !== "string") throw badParam(type, "value", `a string (encoding ${encoding})`, value);
  if (encoding === "base64")
    return { body: Buffer.from(value, "base64"), contentType: given ?? "application/octet-stream" };
  return { body: Buffer.from(value, "utf8"), contentType: given ?? "text/plain; charset=utf-8" };
}

async function put(params: NodeParams, ctx: NodeContext): Promise<StorageRef> {
  const key = paramReader("storage.put", params).requiredString("key");
  const { body, contentType } = encodeValue("storage.put", params);
  const sha256 = sha256Of(body);
  return await withStore("storage.put", params, async (store) => {
    await store.putObject({ key, body, contentType, sha256 });
    ctx.log(`stored ${key} (${body.length} bytes) in ${store.location}`);
    return { location: store.location, key, size: body.length, sha256, content_type: contentType };
  });
}

function decodeValue(as: string, body: Buffer, contentType: string): unknown {
  if (as === "base64") return body.toString("base64");
  const text = body.toString("utf8");
  if (as === "text") return text;
  if (as === "json" || /\bjson\b/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch (cause) {
      if (as === "json")
        throw new KilnError("INVALID_INPUT", `storage.get: the object is not JSON: ${(cause as Error).message}`);
    }
  }
  return text;
}

async function get(params: NodeParams) {
  const read = paramReader("storage.get", params);
  const { key, ref } = targetKey("storage.get", params);
  const as = read.string("as") ?? "auto";
  const maxBytes = read.number("max_bytes") ?? DEFAULT_MAX_BYTES;
  return await withStore("storage.get", params, async (store) => {
    const found =
      ref === undefined ? await store.getObject({ key }) : await readByRef("storage.get", store, { ...ref, key });
    if (found === undefined) {
      throw new KilnError("STORAGE_NOT_FOUND", `storage.get: no object "${key}" in ${store.location}`, {
        data: { key },
      });
    }
    const contentType = found.contentType ?? ref?.content_type ?? "application/octet-stream";
    const meta = {
      location: store.location,
      key,
      size: found.body.length,
      sha256: sha256Of(found.body),
      content_type: contentType,
    };
    if (as === "ref") return meta;
    if (found.body.length > maxBytes) {
      throw new KilnError(
        "INVALID_INPUT",
        `storage.get: "${key}" is ${found.body.length} bytes, over max_bytes ${maxBytes}; raise max_bytes or pass it on with as: ref`,
        { data: { key, size: found.body.length } },
      );
    }
    return { ...meta, value: decodeValue(as, found.body, contentType) };
  });
}

async function list(params: NodeParams) {
  const read = paramReader("storage.list", params);
  const prefix = read.string("prefix") ?? "";
  const limit = read.number("limit") ?? 1000;
  return await withStore("storage.list", params, async (store) => ({
    items: await store.listObjects({ prefix, limit: Math.max(1, Math.floor(limit)) }),
  }));
}

async function remove(params: NodeParams) {
  const { key } = targetKey("storage.delete", params);
  return await withStore("storage.delete", params, async (store) => ({
    key,
    deleted: await store.deleteObject({ key }),
  }));
}

function storageNode(
  type: string,
  description: string,
  rules: ParamRules,
  run: (params: NodeParams, ctx: NodeContext) => Promise<unknown>,
): StepNodeType {
  return { type, kind: "step", description, params: rules, checkParams: (p) => checkParamRules(type, rules, p), run };
}

/** `storage.put`: writes a value; the output is its reference, not the value. */
export const storagePutNode = storageNode(
  "storage.put",
  "Stores a value under a key; output the reference { location, key, size, sha256, content_type }, not the value",
  PUT_RULES,
  put,
);
/** `storage.get`: reads an object by key or by reference (checking its sha256). */
export const storageGetNode = storageNode(
  "storage.get",
  "Reads an object by key or by reference (sha256 checked); output { location, key, size, sha256, content_type, value }",
  GET_RULES,
  get,
);
/** `storage.list`: the objects under a prefix. */
export const storageListNode = storageNode(
  "storage.list",
  "Lists objects under a prefix; output { items: [{ key, size, modified_at }] }",
  LIST_RULES,
  list,
);
/** `storage.delete`: removes an object. */
export const storageDeleteNode = storageNode(
  "storage.delete",
  "Deletes an object by key or reference; output { key, deleted }",
  DELETE_RULES,
  remove,
);
