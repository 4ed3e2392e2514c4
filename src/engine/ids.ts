import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";

// uuid's default random source calls `crypto.getRandomValues` for every id, which costs 10–25 µs
// on Node 20 (webcrypto's argument checks), more than the rest of a SQLite start. Random bytes
// come from a pool refilled 256 ids at a time instead; the millisecond and the sequence are kept
// here as uuid keeps them (RFC 9562 method 1), so ids made in one millisecond still sort in order.
const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(16 * POOL_IDS);
let poolOffset = pool.length;
let lastMs = -1;
let seq = 0;

function randomBytes16(): Uint8Array {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return bytes;
}

function uuidV7(): string {
  const random = randomBytes16();
  const now = Date.now();
  if (now > lastMs) {
    // A new millisecond starts its sequence at a random 31-bit value, as uuid does.
    seq = (((random[6] ?? 0) & 0x7f) << 24) | ((random[7] ?? 0) << 16) | ((random[8] ?? 0) << 8) | (random[9] ?? 0);
    lastMs = now;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) lastMs++;
  }
  return v7({ random, msecs: lastMs, seq });
}

/** A new run id: a UUIDv7, so ids sort by creation time. */
export function newRunId(): string {
  return uuidV7();
}

/** A new opaque id for events, tokens and other rows (also UUIDv7). */
export function newId(): string {
  return uuidV7();
}
