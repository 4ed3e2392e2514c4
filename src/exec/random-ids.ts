import { randomFillSync } from "node:crypto";

// One getrandom call fills a pool for many ids: a call per attempt costs more than the id itself.
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let used = POOL_SIZE;

function take(bytes: number): Buffer {
  if (used + bytes > POOL_SIZE) {
    randomFillSync(pool);
    used = 0;
  }
  const slice = pool.subarray(used, used + bytes);
  used += bytes;
  return slice;
}

/** `bytes` cryptographically random bytes as lowercase hex (trace and span ids). */
export function randomHex(bytes: number): string {
  return take(bytes).toString("hex");
}

/** An unguessable token (256 random bits, base64url): a local API session's secret. */
export function randomToken(): string {
  return take(32).toString("base64url");
}
