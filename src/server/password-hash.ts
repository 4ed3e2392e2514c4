import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { KilnError } from "../errors.ts";

/**
 * Account passwords, hashed with scrypt from node:crypto (no native add-on to build).
 *
 * Parameters: N = 2^15, r = 8, p = 1 (OWASP's minimum for scrypt is N = 2^17 with r = 8, p = 1 or
 * an equivalent; N = 2^15 with r = 8 costs 32 MiB and ~50 ms per check, a deliberate trade against
 * HTTP Basic, which checks on every request; verified credentials are cached by AccountAuth so a
 * client does not pay it per request), a 16-byte random salt, a 32-byte key. The stored form names
 * its parameters, so they can be raised later without breaking existing hashes:
 * `scrypt$N$r$p$<salt base64url>$<key base64url>`.
 */
export const SCRYPT_PARAMS = Object.freeze({ N: 2 ** 15, r: 8, p: 1, keyLength: 32, saltLength: 16 });

/** The shortest password an account may have. */
export const MIN_PASSWORD_LENGTH = 8;

/** Hashes a password for storage. */
export async function hashPassword(password: string): Promise<string> {
  checkPassword(password);
  const salt = randomBytes(SCRYPT_PARAMS.saltLength);
  const { N, r, p, keyLength } = SCRYPT_PARAMS;
  const key = await derive(password, salt, N, r, p, keyLength);
  return ["scrypt", N, r, p, salt.toString("base64url"), key.toString("base64url")].join("$");
}

/** Whether a password matches a stored hash (constant time in the key comparison). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt = "", key = ""] = stored.split("$");
  if (scheme !== "scrypt") return false;
  const expected = Buffer.from(key, "base64url");
  if (expected.length === 0) return false;
  try {
    const actual = await derive(
      password,
      Buffer.from(salt, "base64url"),
      Number(n),
      Number(r),
      Number(p),
      expected.length,
    );
    return timingSafeEqual(actual, expected);
  } catch {
    return false; // parameters scrypt refuses: a damaged hash matches nothing
  }
}

/**
 * A hash that no password matches, checked against when an account is unknown so that an unknown
 * name costs the same time as a wrong password (names cannot be probed by timing).
 */
export const UNKNOWN_ACCOUNT_HASH = [
  "scrypt",
  SCRYPT_PARAMS.N,
  SCRYPT_PARAMS.r,
  SCRYPT_PARAMS.p,
  Buffer.alloc(SCRYPT_PARAMS.saltLength).toString("base64url"),
  Buffer.alloc(SCRYPT_PARAMS.keyLength, 1).toString("base64url"),
].join("$");

/** Refuses a password too short, or one shaped like a token (Basic tells them apart by that). */
export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new KilnError("INVALID_INPUT", `Expected a password of at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.startsWith("kiln_")) {
    throw new KilnError(
      "INVALID_INPUT",
      'A password may not start with "kiln_": HTTP Basic reads such a password as an API token',
    );
  }
}

function derive(password: string, salt: Buffer, N: number, r: number, p: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem above 128·N·r, which Node's 32 MiB default only just misses for these parameters.
    scrypt(password, salt, length, { N, r, p, maxmem: 256 * N * r }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}
