/**
 * Webhooks in the store: incoming endpoints (`POST /hooks/{namespace}/{name}` starts a run) and
 * outgoing subscriptions with their durable delivery outbox. Part of `Store` (store.ts) as
 * `store.webhooks`; written once in sql-webhooks.ts for SQLite and PostgreSQL and checked by
 * webhooks.contract.ts on both.
 *
 * Invariants:
 * - A delivery row is written in the same transaction as the run outcome it reports (the
 *   run's terminal transition), one per matching subscription, so an outcome is never reported
 *   without having happened nor lost after it happened.
 * - A claimed delivery is hidden from other claimers until `leaseMs` elapses; a result is recorded
 *   only by the claim that made the attempt (its attempt number), so two servers never both record one.
 */
export interface WebhookStore {
  // ── Incoming endpoints ──────────────────────────────────────────────────────────────────────
  /** Creates or replaces an endpoint (same namespace + name). */
  putWebhookEndpoint(p: Readonly<PutWebhookEndpointParams>): Promise<{ endpoint: WebhookEndpoint; created: boolean }>;
  getWebhookEndpoint(p: Readonly<{ namespace: string; name: string }>): Promise<WebhookEndpoint | undefined>;
  /** Endpoints of a namespace, by name. */
  listWebhookEndpoints(p: Readonly<{ namespace: string }>): Promise<WebhookEndpoint[]>;
  /** Deletes an endpoint; false when there was none. */
  deleteWebhookEndpoint(p: Readonly<{ namespace: string; name: string }>): Promise<boolean>;

  // ── Outgoing subscriptions ──────────────────────────────────────────────────────────────────
  createWebhookSubscription(p: Readonly<CreateWebhookSubscriptionParams>): Promise<WebhookSubscription>;
  /** Subscriptions of a namespace, oldest first (per-run callbacks included). */
  listWebhookSubscriptions(p: Readonly<{ namespace: string }>): Promise<WebhookSubscription[]>;
  /** Deletes a subscription (its pending deliveries are not sent); false when there was none. */
  deleteWebhookSubscription(p: Readonly<{ namespace: string; id: string }>): Promise<boolean>;

  // ── Delivery outbox ─────────────────────────────────────────────────────────────────────────
  /**
   * Claims up to `limit` pending deliveries due at `now`, oldest due first, raising each one's
   * attempt and hiding it for `leaseMs` (a server that dies mid-attempt loses it to another
   * after that). Safe with many servers on one PostgreSQL (SKIP LOCKED).
   */
  claimWebhookDeliveries(p: Readonly<{ limit: number; leaseMs: number }>): Promise<ClaimedDelivery[]>;
  /**
   * Records the result of an attempt made by a claim: `delivered`; or failed, then pending again
   * at `retryAt`, or `failed` for good without it. False (nothing written) when the delivery was
   * claimed again or redelivered since (the attempt number moved on).
   */
  recordWebhookAttempt(p: Readonly<RecordWebhookAttemptParams>): Promise<boolean>;
  /** Deliveries of a namespace, newest first, optionally of one subscription. */
  listWebhookDeliveries(p: Readonly<ListWebhookDeliveriesParams>): Promise<WebhookDelivery[]>;
  /** A delivery with its attempts (oldest first). */
  getWebhookDelivery(p: Readonly<{ namespace: string; id: string }>): Promise<WebhookDeliveryDetail | undefined>;
  /** Puts a delivery back in the outbox, due now (its attempt count goes on). WEBHOOK_DELIVERY_NOT_FOUND. */
  redeliverWebhook(p: Readonly<{ namespace: string; id: string }>): Promise<WebhookDelivery>;
}

/** How an incoming request proves it comes from the sender. */
export type WebhookScheme = "standard" | "github";

/** An incoming webhook endpoint: a signed POST to it starts a run of `workflow`. */
export interface WebhookEndpoint {
  readonly namespace: string;
  readonly name: string;
  /** The workflow (or, with `runType: "task"`, the task kind) each request starts. */
  readonly workflow: string;
  readonly runType: "workflow" | "task";
  /** The Kiln secret holding the signing key (Standard Webhooks `whsec_…`, or GitHub's webhook secret). */
  readonly secretName: string;
  readonly scheme: WebhookScheme;
  /** `${…}` expressions building the run input from body, headers and query; null: the body itself. */
  readonly inputMap: Readonly<Record<string, unknown>> | null;
  /** Where it was declared: the API/CLI, the config file (replaced on every load), or a flow's `trigger.webhook` (on deploy). */
  readonly source: "api" | "config" | "flow";
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What putWebhookEndpoint takes. */
export type PutWebhookEndpointParams = Omit<WebhookEndpoint, "createdAt" | "updatedAt">;

/** The run events a subscription can ask for. */
export const WEBHOOK_EVENTS = [
  "run.completed",
  "run.failed",
  "run.cancelled",
  "run.timed_out",
  "run.compensated",
] as const;
/** One of WEBHOOK_EVENTS. */
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** An outgoing subscription: runs of the namespace reaching one of `events` are POSTed to `url`. */
export interface WebhookSubscription {
  readonly id: string;
  readonly namespace: string;
  readonly url: string;
  readonly events: readonly WebhookEvent[];
  /** Only runs of this workflow or task kind; null: every run. */
  readonly workflow: string | null;
  /** Only this run (a per-run `callbackUrl`); null: every run. */
  readonly runId: string | null;
  /** The Kiln secret holding the `whsec_…` signing key. */
  readonly secretName: string;
  readonly createdAt: number;
}

/** What createWebhookSubscription takes. */
export type CreateWebhookSubscriptionParams = Omit<WebhookSubscription, "id" | "createdAt">;

/** Where a delivery stands. */
export type WebhookDeliveryStatus = "pending" | "delivered" | "failed";

/** One message to one subscriber; its id is the `webhook-id` of every attempt. */
export interface WebhookDelivery {
  readonly id: string;
  readonly namespace: string;
  readonly subscriptionId: string;
  readonly runId: string;
  readonly event: WebhookEvent;
  readonly status: WebhookDeliveryStatus;
  /** Attempts made so far. */
  readonly attempts: number;
  /** When the next attempt is due (pending only). */
  readonly nextAttemptAt: number | null;
  readonly lastResponseCode: number | null;
  readonly lastError: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One attempt of a delivery. */
export interface WebhookAttempt {
  readonly attempt: number;
  readonly ok: boolean;
  /** The HTTP status the receiver answered; null when none (connection refused, timeout). */
  readonly responseCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly at: number;
}

/** A delivery with its attempts. */
export interface WebhookDeliveryDetail extends WebhookDelivery {
  readonly attemptLog: readonly WebhookAttempt[];
}

/** A claimed delivery with what sending it needs. */
export interface ClaimedDelivery extends WebhookDelivery {
  readonly url: string;
  readonly secretName: string;
  /** The run as it ended (name, status, output, error), for the payload. */
  readonly run: {
    readonly name: string;
    readonly type: "workflow" | "task";
    readonly status: string;
    readonly output: unknown;
    readonly error: unknown;
    readonly finishedAt: number | null;
  };
}

/** What recordWebhookAttempt takes. */
export interface RecordWebhookAttemptParams {
  readonly id: string;
  /** The attempt number the claim returned (`attempts`). */
  readonly attempt: number;
  readonly ok: boolean;
  readonly responseCode: number | null;
  readonly latencyMs: number;
  readonly error?: string;
  /** A failed attempt is retried then; omitted: the delivery fails for good. */
  readonly retryAt?: number;
}

/** What listWebhookDeliveries takes. */
export interface ListWebhookDeliveriesParams {
  readonly namespace: string;
  readonly subscriptionId?: string;
  readonly runId?: string;
  /** Default 100. */
  readonly limit?: number;
}
