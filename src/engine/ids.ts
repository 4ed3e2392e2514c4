import { v7 } from "uuid";

/** A new run id: a UUIDv7, so ids sort by creation time. */
export function newRunId(): string {
  return v7();
}

/** A new opaque id for events, tokens and other rows (also UUIDv7). */
export function newId(): string {
  return v7();
}
