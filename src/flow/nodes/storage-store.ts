// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { createHash } from "node:crypto";
import { KilnError } from "../../errors.ts";
import { LocalObjectStore } from "./local-object-store.ts";
import type { ObjectStore, StorageRef, StoredObject } from "./object-store.ts";
import { badParam, type ParamRule, paramReader } from "./param-rules.ts";
import { S3ObjectStore } from "./s3-object-store.ts";

/** The `store` param shared by the storage nodes and email attachments. */
export const STORE_RULE: ParamRule = {
  kind: "object",
  description:
    "where objects live: { dir } for a local directory, or { bucket, endpoint, region, access_key_id, secret_access_key, path_style, prefix } for S3",
  fields: {
    dir: { kind: "string", description: "a local directory (created on first write)" },
    bucket: { kind: "string", description: "an S3 bucket" },
    endpoint: { kind: "string", description: "S3-compatible service URL (MinIO, R2, …); default AWS" },
    region: { kind: "string", description: "default us-east-1" },
    access_key_id: { kind: "string", description: "usually ${secrets.S3_ACCESS_KEY_ID}" },
    secret_access_key: { kind: "string", description: "usually ${secrets.S3_SECRET_ACCESS_KEY}" },
    path_style: { kind: "boolean", description: "path-style URLs (default true)" },
    prefix: { kind: "string", description: "prepended to every key" },
  },
};

/** An object store opened for one node visit; close() frees its sockets. */
export interface OpenedStore extends ObjectStore {
  close(): void;
}

/** Opens the store a node's `store` param (as interpolated) describes. */
export async function openStore(type: string, value: unknown): Promise<OpenedStore> {
  const record = value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  if (record === undefined) throw badParam(type, "store", "{ dir } or { bucket, … }", value);
  const store = paramReader(`${type} store`, record as Record<string, unknown>);
  const dir = store.string("dir");
  const bucket = store.string("bucket");
  if ((dir === undefined) === (bucket === undefined)) {
    throw new KilnError(
      "INVALID_INPUT",
      `The "store" of ${type} needs exactly one of "dir" (a local directory) or "bucket" (S3)`,
    );
  }
  if (dir !== undefined) {
    const local = new LocalObjectStore(dir);
    return Object.assign(local, { close: () => {} });
  }
  const endpoint = store.string("endpoint");
  const accessKeyId = store.string("access_key_id");
  const secretAccessKey = store.string("secret_access_key");
  return await S3ObjectStore.open({
    bucket: bucket as string,
    region: store.string("region") ?? "us-east-1",
    pathStyle: store.boolean("path_style") ?? true,
    prefix: store.string("prefix") ?? "",
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(accessKeyId === undefined ? {} : { accessKeyId }),
    ...(secretAccessKey === undefined ? {} : { secretAccessKey }),
  });
}

/** The hex sha256 of bytes. */
export const sha256Of = (body: Buffer): string => createHash("sha256").update(body).digest("hex");

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** A reference as written in params (a storage.put output), checked. */
export function readRef(type: string, value: unknown): StorageRef {
  const ref = (typeof value === "string" ? parseJson(value) : value) as Partial<StorageRef> | null;
  if (
    ref === null ||
    typeof ref !== "object" ||
    typeof ref.key !== "string" ||
    typeof ref.sha256 !== "string" ||
    typeof ref.size !== "number"
  ) {
    throw badParam(type, "ref", "a storage reference { key, size, sha256 } (a storage.put output)", value);
  }
  return {
    location: String(ref.location ?? ""),
    key: ref.key,
    size: ref.size,
    sha256: ref.sha256,
    content_type: String(ref.content_type ?? "application/octet-stream"),
  };
}

/** Reads an object by reference and checks it still is what the reference recorded. */
export async function readByRef(type: string, store: ObjectStore, ref: StorageRef): Promise<StoredObject> {
  const found = await store.getObject({ key: ref.key });
  if (found === undefined) {
    throw new KilnError("STORAGE_NOT_FOUND", `${type}: no object "${ref.key}" in ${store.location}`, {
      data: { key: ref.key },
    });
  }
  const actual = sha256Of(found.body);
  if (actual !== ref.sha256) {
    throw new KilnError(
      "STORAGE_INTEGRITY_FAILED",
      `${type}: "${ref.key}" in ${store.location} changed since it was referenced (sha256 ${actual}, expected ${ref.sha256})`,
      { data: { key: ref.key, sha256: actual, expected: ref.sha256 } },
    );
  }
  return found;
}
