import { KilnError } from "../errors.ts";

/** A provider reference split at its last `#`: where the secret lives, and the field wanted (or null). */
export interface SecretPath {
  readonly path: string;
  readonly field: string | null;
}

/** Splits `PATH#FIELD` (the field is optional). */
export function splitSecretPath(ref: string, rest: string): SecretPath {
  const hash = rest.lastIndexOf("#");
  const path = hash < 0 ? rest : rest.slice(0, hash);
  const field = hash < 0 ? null : rest.slice(hash + 1);
  if (path === "" || field === "") {
    throw new KilnError("SECRET_NOT_FOUND", `The secret ${ref} is not available: write it as PATH or PATH#FIELD`, {
      retryable: false,
      data: { ref },
    });
  }
  return { path, field };
}

/**
 * The value of `field` in a secret made of key/value pairs; without a field, the only value of a
 * one-key secret. Non-string values are given as JSON.
 */
export function pickSecretField(ref: string, data: Readonly<Record<string, unknown>>, field: string | null): string {
  const keys = Object.keys(data);
  const key = field ?? (keys.length === 1 ? (keys[0] as string) : null);
  if (key === null) {
    throw new KilnError(
      "SECRET_NOT_FOUND",
      `The secret ${ref} is not available: it holds ${keys.length} keys (${keys.join(", ")}); name one as ${ref}#KEY`,
      { retryable: false, data: { ref } },
    );
  }
  const value = data[key];
  if (value === undefined) {
    throw new KilnError(
      "SECRET_NOT_FOUND",
      `The secret ${ref} is not available: it has no key ${key} (keys: ${keys.join(", ")})`,
      { retryable: false, data: { ref } },
    );
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}
