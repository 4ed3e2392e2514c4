import { decodePayload } from "../engine/payload.ts";
import type { SqlKernel } from "./sql-kernel.ts";
import type { EventPage, ListEventsParams, StoredEvent } from "./store.ts";

interface EventRow {
  id: string;
  name: string;
  key: string | null;
  payload: string | null;
  created_at: number;
  expires_at: number;
  consumed_by: string | null;
  consumed_at: number | null;
}

/**
 * Events of a namespace, newest first, until they expire: delivered ones with the run that took
 * them, buffered ones (no waiter yet) with when they expire. The cursor is the last event's id;
 * ids are time-ordered, so `id < cursor` pages without gaps.
 */
export async function listEvents(k: SqlKernel, p: Readonly<ListEventsParams>): Promise<EventPage> {
  const where = ["namespace = ?", "expires_at > ?"];
  const params: (string | number)[] = [p.namespace, k.clock()];
  if (p.buffered === true) where.push("consumed_by IS NULL");
  for (const [sql, value] of [
    ["name = ?", p.name],
    ["id < ?", p.cursor],
  ] as const) {
    if (value === undefined) continue;
    where.push(sql);
    params.push(value);
  }
  const limit = Math.min(Math.max(Math.floor(p.limit ?? 50), 1), 1000);
  const rows = await k.driver.all<EventRow>(
    `SELECT id, name, key, payload, created_at, expires_at, consumed_by, consumed_at FROM events
     WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT ?`,
    [...params, limit + 1],
  );
  const page = rows.slice(0, limit);
  return {
    events: page.map(toEvent),
    nextCursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
  };
}

function toEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    name: row.name,
    key: row.key,
    payload: decodePayload(row.payload),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    deliveredTo: row.consumed_by,
    deliveredAt: row.consumed_at,
  };
}
