import { KilnError } from "../errors.ts";
import { newId } from "../engine/ids.ts";
import { type Dialect, inList, rowsSource, type SqlDriver, type SqlExecutor } from "./sql-driver.ts";
import type {
  ClaimedDelivery,
  CreateWebhookSubscriptionParams,
  ListWebhookDeliveriesParams,
  PutWebhookEndpointParams,
  RecordWebhookAttemptParams,
  WebhookAttempt,
  WebhookDelivery,
  WebhookDeliveryDetail,
  WebhookEndpoint,
  WebhookEvent,
  WebhookStore,
  WebhookSubscription,
} from "./webhook-store.ts";

interface EndpointRow {
  namespace: string;
  name: string;
  workflow: string;
  run_type: "workflow" | "task";
  secret_name: string;
  scheme: "standard" | "github";
  input_map: string | null;
  source: "api" | "config" | "flow";
  created_at: number;
  updated_at: number;
}

interface SubscriptionRow {
  id: string;
  namespace: string;
  url: string;
  events: string;
  workflow: string | null;
  run_id: string | null;
  secret_name: string;
  created_at: number;
}

interface DeliveryRow {
  id: string;
  namespace: string;
  subscription_id: string;
  run_id: string;
  event: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: number | null;
  last_response_code: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

interface AttemptRow {
  attempt: number;
  ok: number;
  response_code: number | null;
  latency_ms: number;
  error: string | null;
  at: number;
}

const n = (v: number | string | null): number | null => (v === null ? null : Number(v));

function rowToEndpoint(r: EndpointRow): WebhookEndpoint {
  return {
    namespace: r.namespace,
    name: r.name,
    workflow: r.workflow,
    runType: r.run_type,
    secretName: r.secret_name,
    scheme: r.scheme,
    inputMap: r.input_map === null ? null : (JSON.parse(r.input_map) as Record<string, unknown>),
    source: r.source,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function rowToSubscription(r: SubscriptionRow): WebhookSubscription {
  return {
    id: r.id,
    namespace: r.namespace,
    url: r.url,
    events: r.events.split(",") as WebhookEvent[],
    workflow: r.workflow,
    runId: r.run_id,
    secretName: r.secret_name,
    createdAt: Number(r.created_at),
  };
}

function rowToDelivery(r: DeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    namespace: r.namespace,
    subscriptionId: r.subscription_id,
    runId: r.run_id,
    event: r.event as WebhookEvent,
    status: r.status,
    attempts: Number(r.attempts),
    nextAttemptAt: n(r.next_attempt_at),
    lastResponseCode: n(r.last_response_code),
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function rowToAttempt(r: AttemptRow): WebhookAttempt {
  return {
    attempt: Number(r.attempt),
    ok: Number(r.ok) === 1,
    responseCode: n(r.response_code),
    latencyMs: Number(r.latency_ms),
    error: r.error,
    at: Number(r.at),
  };
}

/**
 * Writes the outbox rows for runs that just reached a terminal status: one per subscription of
 * the run's namespace that wants the event (`run.<status>`) and matches the run's name (or is the
 * run's own callback). Called inside the transaction of the transition, after the runs' rows were
 * written; only runs that ended in this transaction (finished at `now`, with that status) count,
 * so re-settling a run that ended earlier, or a fenced-off completion, reports nothing. The delivery id is derived from subscription, run and attempt, so a retried run that
 * ends again is reported again while a repeated call for the same outcome writes nothing.
 */
export async function enqueueRunDeliveries(
  dialect: Dialect,
  db: SqlExecutor,
  now: number,
  runs: readonly { readonly id: string; readonly status: string }[],
): Promise<void> {
  if (runs.length === 0) return;
  const src = rowsSource(
    dialect,
    [
      ["rid", "text"],
      ["st", "text"],
    ],
    runs.map((r) => [r.id, r.status]),
  );
  await db.run(
    `INSERT INTO webhook_deliveries (id, namespace, subscription_id, run_id, event, status, attempts,
       next_attempt_at, created_at, updated_at)
     SELECT 'msg_' || s.id || '_' || r.id || '_' || CAST(r.attempt AS TEXT), r.namespace, s.id, r.id, 'run.' || v.st,
       'pending', 0, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)
     FROM ${src.sql}
     JOIN runs r ON r.id = v.rid
     JOIN webhook_subscriptions s ON s.namespace = r.namespace
     WHERE r.status = v.st AND r.finished_at = CAST(? AS BIGINT)
       AND (s.workflow IS NULL OR s.workflow = r.name) AND (s.run_id IS NULL OR s.run_id = r.id)
       AND (',' || s.events || ',') LIKE ('%,run.' || v.st || ',%')
     ON CONFLICT (id) DO NOTHING`,
    [now, now, now, ...src.params, now],
  );
}

/** The webhook tables over any SqlDriver (see webhook-store.ts for the contract). */
export class SqlWebhooks implements WebhookStore {
  readonly #db: SqlDriver;
  readonly #clock: () => number;

  constructor(driver: SqlDriver, clock: () => number) {
    this.#db = driver;
    this.#clock = clock;
  }

  async putWebhookEndpoint(
    p: Readonly<PutWebhookEndpointParams>,
  ): Promise<{ endpoint: WebhookEndpoint; created: boolean }> {
    const now = this.#clock();
    return this.#db.transaction(async (tx) => {
      const [before] = await tx.all<{ created_at: number }>(
        "SELECT created_at FROM webhook_endpoints WHERE namespace = ? AND name = ?",
        [p.namespace, p.name],
      );
      const [row] = await tx.all<EndpointRow>(
        `INSERT INTO webhook_endpoints (namespace, name, workflow, run_type, secret_name, scheme, input_map, source,
           created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (namespace, name) DO UPDATE SET workflow = excluded.workflow, run_type = excluded.run_type,
           secret_name = excluded.secret_name, scheme = excluded.scheme, input_map = excluded.input_map,
           source = excluded.source, updated_at = excluded.updated_at
         RETURNING *`,
        [
          p.namespace,
          p.name,
          p.workflow,
          p.runType,
          p.secretName,
          p.scheme,
          p.inputMap === null ? null : JSON.stringify(p.inputMap),
          p.source,
          now,
          now,
        ],
      );
      return { endpoint: rowToEndpoint(row as EndpointRow), created: before === undefined };
    });
  }

  async getWebhookEndpoint(p: Readonly<{ namespace: string; name: string }>): Promise<WebhookEndpoint | undefined> {
    const [row] = await this.#db.all<EndpointRow>("SELECT * FROM webhook_endpoints WHERE namespace = ? AND name = ?", [
      p.namespace,
      p.name,
    ]);
    return row ? rowToEndpoint(row) : undefined;
  }

  async listWebhookEndpoints(p: Readonly<{ namespace: string }>): Promise<WebhookEndpoint[]> {
    const rows = await this.#db.all<EndpointRow>("SELECT * FROM webhook_endpoints WHERE namespace = ? ORDER BY name", [
      p.namespace,
    ]);
    return rows.map(rowToEndpoint);
  }

  async deleteWebhookEndpoint(p: Readonly<{ namespace: string; name: string }>): Promise<boolean> {
    return (
      (await this.#db.run("DELETE FROM webhook_endpoints WHERE namespace = ? AND name = ?", [p.namespace, p.name])) > 0
    );
  }

  async createWebhookSubscription(p: Readonly<CreateWebhookSubscriptionParams>): Promise<WebhookSubscription> {
    if (p.events.length === 0) {
      throw new KilnError("INVALID_INPUT", "A webhook subscription needs at least one event, e.g. run.completed");
    }
    const row: SubscriptionRow = {
      id: newId(),
      namespace: p.namespace,
      url: p.url,
      events: [...new Set(p.events)].join(","),
      workflow: p.workflow,
      run_id: p.runId,
      secret_name: p.secretName,
      created_at: this.#clock(),
    };
    await this.#db.run(
      `INSERT INTO webhook_subscriptions (id, namespace, url, events, workflow, run_id, secret_name, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [row.id, row.namespace, row.url, row.events, row.workflow, row.run_id, row.secret_name, row.created_at],
    );
    return rowToSubscription(row);
  }

  async listWebhookSubscriptions(p: Readonly<{ namespace: string }>): Promise<WebhookSubscription[]> {
    const rows = await this.#db.all<SubscriptionRow>(
      "SELECT * FROM webhook_subscriptions WHERE namespace = ? ORDER BY created_at, id",
      [p.namespace],
    );
    return rows.map(rowToSubscription);
  }

  async deleteWebhookSubscription(p: Readonly<{ namespace: string; id: string }>): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const gone = await tx.run("DELETE FROM webhook_subscriptions WHERE namespace = ? AND id = ?", [
        p.namespace,
        p.id,
      ]);
      if (gone === 0) return false;
      // Its undelivered messages have nowhere to go; the log of what was sent stays.
      await tx.run(
        `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ?, updated_at = ?
         WHERE subscription_id = ? AND status = 'pending'`,
        ["the subscription was deleted", this.#clock(), p.id],
      );
      return true;
    });
  }

  async claimWebhookDeliveries(p: Readonly<{ limit: number; leaseMs: number }>): Promise<ClaimedDelivery[]> {
    const now = this.#clock();
    const lock = this.#db.dialect === "postgres" ? " FOR UPDATE SKIP LOCKED" : "";
    return this.#db.transaction(async (tx) => {
      const due = await tx.all<{ id: string }>(
        `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
         ORDER BY next_attempt_at, id LIMIT ?${lock}`,
        [now, p.limit],
      );
      if (due.length === 0) return [];
      const ids = inList(
        this.#db.dialect,
        due.map((d) => d.id),
      );
      // The lease is the next due time: a server that dies mid-attempt leaves the row due again.
      await tx.run(
        `UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ? WHERE id ${ids.sql}`,
        [now + p.leaseMs, now, ...ids.params],
      );
      const rows = await tx.all<
        DeliveryRow & {
          url: string;
          secret_name: string;
          run_name: string;
          run_type: "workflow" | "task";
          run_status: string;
          run_output: string | null;
          run_error: string | null;
          run_finished_at: number | null;
        }
      >(
        `SELECT d.*, s.url, s.secret_name, r.name AS run_name, r.type AS run_type, r.status AS run_status,
           r.output AS run_output, r.error AS run_error, r.finished_at AS run_finished_at
         FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id JOIN runs r ON r.id = d.run_id
         WHERE d.id ${ids.sql}`,
        ids.params,
      );
      rows.sort((a, b) => Number(a.created_at) - Number(b.created_at) || a.id.localeCompare(b.id));
      return rows.map((r) => ({
        ...rowToDelivery(r),
        url: r.url,
        secretName: r.secret_name,
        run: {
          name: r.run_name,
          type: r.run_type,
          status: r.run_status,
          output: r.run_output === null ? null : JSON.parse(r.run_output),
          error: r.run_error === null ? null : JSON.parse(r.run_error),
          finishedAt: n(r.run_finished_at),
        },
      }));
    });
  }

  async recordWebhookAttempt(p: Readonly<RecordWebhookAttemptParams>): Promise<boolean> {
    const now = this.#clock();
    return this.#db.transaction(async (tx) => {
      const status = p.ok ? "delivered" : p.retryAt === undefined ? "failed" : "pending";
      const changed = await tx.run(
        `UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, last_response_code = ?, last_error = ?,
           updated_at = ?
         WHERE id = ? AND attempts = ? AND status = 'pending'`,
        [
          status,
          status === "pending" ? (p.retryAt ?? null) : null,
          p.responseCode,
          p.error ?? null,
          now,
          p.id,
          p.attempt,
        ],
      );
      if (changed === 0) return false;
      await tx.run(
        `INSERT INTO webhook_attempts (delivery_id, attempt, ok, response_code, latency_ms, error, at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [p.id, p.attempt, p.ok ? 1 : 0, p.responseCode, Math.round(p.latencyMs), p.error ?? null, now],
      );
      return true;
    });
  }

  async listWebhookDeliveries(p: Readonly<ListWebhookDeliveriesParams>): Promise<WebhookDelivery[]> {
    const where = ["namespace = ?"];
    const params: (string | number)[] = [p.namespace];
    if (p.subscriptionId !== undefined) {
      where.push("subscription_id = ?");
      params.push(p.subscriptionId);
    }
    if (p.runId !== undefined) {
      where.push("run_id = ?");
      params.push(p.runId);
    }
    const rows = await this.#db.all<DeliveryRow>(
      `SELECT * FROM webhook_deliveries WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT ?`,
      [...params, p.limit ?? 100],
    );
    return rows.map(rowToDelivery);
  }

  async getWebhookDelivery(p: Readonly<{ namespace: string; id: string }>): Promise<WebhookDeliveryDetail | undefined> {
    const [row] = await this.#db.all<DeliveryRow>("SELECT * FROM webhook_deliveries WHERE namespace = ? AND id = ?", [
      p.namespace,
      p.id,
    ]);
    if (!row) return undefined;
    const attempts = await this.#db.all<AttemptRow>(
      "SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
      [p.id],
    );
    return { ...rowToDelivery(row), attemptLog: attempts.map(rowToAttempt) };
  }

  async redeliverWebhook(p: Readonly<{ namespace: string; id: string }>): Promise<WebhookDelivery> {
    const now = this.#clock();
    const rows = await this.#db.all<DeliveryRow>(
      `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ?
       WHERE namespace = ? AND id = ? AND EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.id = subscription_id)
       RETURNING *`,
      [now, now, p.namespace, p.id],
    );
    const row = rows[0];
    if (!row) {
      throw new KilnError(
        "WEBHOOK_DELIVERY_NOT_FOUND",
        `No webhook delivery ${p.id} with a live subscription in namespace "${p.namespace}"; list them with \`kiln webhooks deliveries\``,
      );
    }
    return rowToDelivery(row);
  }
}
