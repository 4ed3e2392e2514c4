import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { KilnError } from "../errors.ts";
import type { MasterKeyring } from "./master-key.ts";

/**
 * Secret input fields (`secret_fields`, or `x-secret: true` in a task kind's input schema) are
 * sealed before the run is stored: each value is replaced by `{ "$sealed": "kiln:v1:…" }`, the
 * value encrypted with the master key (AES-256-GCM) and bound to its namespace and field path.
 * The stored run, its API views, the UI and exports hold ciphertext only; the worker that runs the
 * task unseals the input just before it starts the script (remote workers ask the server), and
 * masks the values in every log and output as it masks vault secrets.
 */
export const SEALED_KEY = "$sealed";
const PREFIX = "kiln:v1:";

function aad(namespace: string, path: string): Buffer {
  return Buffer.from(`kiln-input\u0000${namespace}\u0000${path}`, "utf8");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A sealed value as stored: `{ "$sealed": "kiln:v1:<keyId>:<iv>:<tag>:<ciphertext>" }`. */
export function isSealed(value: unknown): value is { readonly $sealed: string } {
  return (
    isObject(value) &&
    Object.keys(value).length === 1 &&
    typeof value[SEALED_KEY] === "string" &&
    (value[SEALED_KEY] as string).startsWith(PREFIX)
  );
}

function seal(keyring: MasterKeyring, namespace: string, path: string, value: unknown): { $sealed: string } {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyring.current.key, iv);
  cipher.setAAD(aad(namespace, path));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
  const parts = [keyring.current.id, iv, cipher.getAuthTag(), ciphertext].map((p) =>
    typeof p === "string" ? p : p.toString("base64"),
  );
  return { [SEALED_KEY]: `${PREFIX}${parts.join(":")}` } as { $sealed: string };
}

function unseal(keyring: MasterKeyring, namespace: string, path: string, sealed: string): unknown {
  const [keyId = "", iv = "", tag = "", ciphertext = ""] = sealed.slice(PREFIX.length).split(":");
  const key = keyring.keys.get(keyId);
  if (!key) {
    throw new KilnError(
      "INVALID_CONFIG",
      `The input field ${path} is sealed with master key ${keyId}, which this server does not have; set KILN_MASTER_KEY to the keys every server shares (keep old keys listed after a rotation while runs sealed with them may still run)`,
    );
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, Buffer.from(iv, "base64"));
    decipher.setAAD(aad(namespace, path));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    const text = Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64")), decipher.final()]).toString("utf8");
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new KilnError(
      "INVALID_INPUT",
      `The sealed input field ${path} does not unseal in namespace "${namespace}": it was altered or copied from another namespace or field`,
      { cause },
    );
  }
}

/**
 * The input with each listed field (`a.b` for nested) sealed. Fields that are absent, and inputs
 * that are not objects, are left as they are; a field already sealed is not sealed twice.
 */
export function sealInputFields(
  keyring: MasterKeyring,
  namespace: string,
  input: unknown,
  fields: readonly string[],
): unknown {
  if (!isObject(input) || fields.length === 0) return input;
  const out = structuredClone(input);
  for (const path of fields) {
    const keys = path.split(".");
    let holder: Record<string, unknown> | undefined = out;
    for (const key of keys.slice(0, -1)) {
      const next: unknown = holder?.[key];
      holder = isObject(next) ? next : undefined;
    }
    const last = keys.at(-1) as string;
    if (holder === undefined || !Object.hasOwn(holder, last) || isSealed(holder[last])) continue;
    holder[last] = seal(keyring, namespace, path, holder[last]);
  }
  return out;
}

/** Whether any value of the input is sealed (so the worker must unseal it before running). */
export function hasSealedFields(input: unknown): boolean {
  if (!isObject(input)) return false;
  return Object.values(input).some((v) => isSealed(v) || hasSealedFields(v));
}

/** The input with every sealed field replaced by its value. */
export function unsealInputFields(keyring: MasterKeyring, namespace: string, input: unknown, prefix = ""): unknown {
  if (!isObject(input)) return input;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const path = `${prefix}${key}`;
    out[key] = isSealed(value)
      ? unseal(keyring, namespace, path, value.$sealed)
      : isObject(value)
        ? unsealInputFields(keyring, namespace, value, `${path}.`)
        : value;
  }
  return out;
}
