import { KilnError } from "../errors.ts";
import type { SqlDriver, SqlParam } from "./sql-driver.ts";

/** One state-changing API call: who, what, on which target, and how it ended. Never a body. */
export interface AuditRecord {
  /** Increasing; the list cursor. */
  readonly id: number;
  readonly at: number;
  /** The namespace the call acted in (`*` for server-wide calls, `-` before auth decided). */
  readonly namespace: string;
  /** The token id, or `loopback` / `session` / `anonymous`. */
  readonly actor: string;
  readonly actorName: string;
  /** The route's operationId (`startRun`, `setSecret`, …). */
  readonly action: string;
  readonly method: string;
  /** The route pattern (`/v1/secrets/:name`). */
  readonly route: string;
  /** The path parameters (run id, secret name, …): names and ids only. */
  readonly target: Readonly<Record<string, string>>;
  readonly requestId: string;
  readonly status: number;
  /** `ok`, or the error code the call ended with. */
  readonly outcome: string;
}

/** A record as written (id and time are the store's). */
export type NewAuditRecord = Omit<AuditRecord, "id" | "at"> & { readonly at?: number };

/** Filters of listAuditRecords. */
export interface ListAuditParams {
  /** Only these namespaces (undefined: all). */
  readonly namespaces?: readonly string[];
  readonly actor?: string;
  readonly action?: string;
  /** Only records at or after this time (ms). */
  readonly since?: number;
  /** Records with an id below this (the previous page's cursor). */
  readonly before?: number;
  readonly limit: number;
}

/** The audit log's persistence. */
export interface AuditStore {
  appendAuditRecords(p: Readonly<{ records: readonly NewAuditRecord[] }>): Promise<void>;
  /** Newest first. */
  listAuditRecords(p: Readonly<ListAuditParams>): Promise<{ items: AuditRecord[]; nextCursor: string | null }>;
  /** Deletes records older than `before` (at most `limit`); returns how many went. */
  deleteAuditRecords(p: Readonly<{ before: number; limit: number }>): Promise<number>;
}

interface AuditRow {
  id: number | string;
  at: number | string;
  namespace: string;
  actor: string;
  actor_name: string;
  action: string;
  method: string;
  route: string;
  target: string;
  request_id: string;
  status: number | string;
  outcome: string;
}

const COLUMNS = "at, namespace, actor, actor_name, action, method, route, target, request_id, status, outcome";

/** The audit log on Kiln's SQL database (table audit_log, migration 12). */
export class SqlAuditStore implements AuditStore {
  readonly #driver: SqlDriver;
  readonly #clock: () => number;

  constructor(driver: SqlDriver, clock: () => number) {
    this.#driver = driver;
    this.#clock = clock;
  }

  async appendAuditRecords(p: Readonly<{ records: readonly NewAuditRecord[] }>): Promise<void> {
    if (p.records.length === 0) return;
    const now = this.#clock();
    const tuple = `(${COLUMNS.split(",")
      .map(() => "?")
      .join(", ")})`;
    const params: SqlParam[] = [];
    for (const r of p.records) {
      params.push(
        r.at ?? now,
        r.namespace,
        r.actor,
        r.actorName,
        r.action,
        r.method,
        r.route,
        JSON.stringify(r.target),
        r.requestId,
        r.status,
        r.outcome,
      );
    }
    await this.#driver.run(
      `INSERT INTO audit_log (${COLUMNS}) VALUES ${p.records.map(() => tuple).join(", ")}`,
      params,
    );
  }

  async listAuditRecords(p: Readonly<ListAuditParams>): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
    if (p.namespaces?.length === 0) return { items: [], nextCursor: null };
    if (!Number.isInteger(p.limit) || p.limit < 1 || p.limit > 1000) {
      throw new KilnError("INVALID_INPUT", `Expected limit to be an integer from 1 to 1000, got ${p.limit}`);
    }
    const where: string[] = [];
    const params: SqlParam[] = [];
    if (p.namespaces) {
      where.push(`namespace IN (${p.namespaces.map(() => "?").join(", ")})`);
      params.push(...p.namespaces);
    }
    if (p.actor !== undefined) {
      where.push("(actor = ? OR actor_name = ?)");
      params.push(p.actor, p.actor);
    }
    if (p.action !== undefined) {
      where.push("action = ?");
      params.push(p.action);
    }
    if (p.since !== undefined) {
      where.push("at >= ?");
      params.push(p.since);
    }
    if (p.before !== undefined) {
      where.push("id < ?");
      params.push(p.before);
    }
    const rows = await this.#driver.all<AuditRow>(
      `SELECT id, ${COLUMNS} FROM audit_log ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`,
      [...params, p.limit + 1],
    );
    const items = rows.slice(0, p.limit).map(toRecord);
    return { items, nextCursor: rows.length > p.limit ? String(items.at(-1)?.id) : null };
  }

  async deleteAuditRecords(p: Readonly<{ before: number; limit: number }>): Promise<number> {
    return this.#driver.run(
      "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?)",
      [p.before, p.limit],
    );
  }
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    id: Number(row.id),
    at: Number(row.at),
    namespace: row.namespace,
    actor: row.actor,
    actorName: row.actor_name,
    action: row.action,
    method: row.method,
    route: row.route,
    target: JSON.parse(row.target) as Record<string, string>,
    requestId: row.request_id,
    status: Number(row.status),
    outcome: row.outcome,
  };
}
