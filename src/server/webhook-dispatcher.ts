import type { Logger } from "pino";
import { Webhook } from "standardwebhooks";
import type { SecretVault } from "../secrets/vault.ts";
import type { Store } from "../store/store.ts";
import type { ClaimedDelivery } from "../store/webhook-store.ts";
import type { ServerMetrics } from "./metrics.ts";

/** How outgoing webhooks are sent and retried; durations in ms. */
export interface WebhookDeliverySettings {
  /** Wait after the first failed attempt; doubled after each further one. Default 30 s. */
  readonly initialBackoffMs: number;
  /** Longest wait between attempts. Default 1 h. */
  readonly maxBackoffMs: number;
  /** A delivery still failing this long after its run ended fails for good. Default 24 h. */
  readonly giveUpAfterMs: number;
  /** One attempt's HTTP timeout. Default 10 s. */
  readonly timeoutMs: number;
  /** How often the outbox is polled. Default 1 s. */
  readonly pollMs: number;
  /** Deliveries claimed per poll. Default 32. */
  readonly batch: number;
}

/** The defaults of WebhookDeliverySettings. */
export const DEFAULT_WEBHOOK_DELIVERY: WebhookDeliverySettings = Object.freeze({
  initialBackoffMs: 30_000,
  maxBackoffMs: 3_600_000,
  giveUpAfterMs: 86_400_000,
  timeoutMs: 10_000,
  pollMs: 1000,
  batch: 32,
});

/** The wait before attempt `attempt + 1` after `attempt` failed: exponential, capped. */
export function webhookBackoffMs(settings: WebhookDeliverySettings, attempt: number): number {
  return Math.min(settings.maxBackoffMs, settings.initialBackoffMs * 2 ** Math.max(0, attempt - 1));
}

/** The JSON body of a run event (the Standard Webhooks `{ type, timestamp, data }` shape). */
export function runEventPayload(d: ClaimedDelivery): string {
  return JSON.stringify({
    type: d.event,
    timestamp: new Date(d.run.finishedAt ?? d.createdAt).toISOString(),
    data: {
      runId: d.runId,
      namespace: d.namespace,
      name: d.run.name,
      type: d.run.type,
      status: d.run.status,
      output: d.run.output,
      error: d.run.error,
    },
  });
}

/** Options of the dispatcher. */
export interface WebhookDispatcherOptions {
  readonly store: Store;
  readonly vault: SecretVault;
  readonly logger?: Logger;
  readonly metrics?: ServerMetrics;
  readonly settings?: Partial<WebhookDeliverySettings>;
  readonly clock?: () => number;
}

/**
 * Sends the outbox's due deliveries, signed with the Standard Webhooks scheme (`standardwebhooks`),
 * and records each attempt. Every server runs one: the store's claim (SKIP LOCKED, and a lease as
 * the next due time) keeps two servers from sending one attempt twice. `tick()` runs one round.
 */
export class WebhookDispatcher {
  readonly #store: Store;
  readonly #vault: SecretVault;
  readonly #logger: Logger | undefined;
  readonly #metrics: ServerMetrics | undefined;
  readonly #clock: () => number;
  readonly settings: WebhookDeliverySettings;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();

  constructor(options: WebhookDispatcherOptions) {
    this.#store = options.store;
    this.#vault = options.vault;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#clock = options.clock ?? Date.now;
    this.settings = Object.freeze({ ...DEFAULT_WEBHOOK_DELIVERY, ...options.settings });
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() =>
        this.tick().catch((error: unknown) => this.#logger?.warn({ err: error }, "webhook delivery round failed")),
      );
    }, this.settings.pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Claims the due deliveries and sends them (in parallel); returns how many were attempted. */
  async tick(): Promise<number> {
    const claimed = await this.#store.webhooks.claimWebhookDeliveries({
      limit: this.settings.batch,
      // Longer than an attempt can take, so the claim outlives the attempt it covers.
      leaseMs: this.settings.timeoutMs * 2 + 5_000,
    });
    await Promise.all(claimed.map((d) => this.#send(d)));
    return claimed.length;
  }

  async #send(d: ClaimedDelivery): Promise<void> {
    const started = performance.now();
    let responseCode: number | null = null;
    let error: string | undefined;
    try {
      const secrets = await this.#vault.getValues({ namespace: d.namespace, names: [d.secretName] });
      const secret = secrets[d.secretName];
      if (secret === undefined) throw new Error(`the signing secret ${d.secretName} is missing; set it again`);
      const body = runEventPayload(d);
      // Wall-clock time, whatever clock schedules retries: receivers check it against theirs.
      const at = new Date();
      const response = await fetch(d.url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(this.settings.timeoutMs),
        headers: {
          "content-type": "application/json",
          "user-agent": "Kiln-Webhooks",
          "webhook-id": d.id,
          "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
          "webhook-signature": new Webhook(secret).sign(d.id, at, body),
        },
        body,
      });
      responseCode = response.status;
      await response.body?.cancel();
      if (response.status < 200 || response.status > 299) error = `HTTP ${response.status}`;
    } catch (cause) {
      error = (cause as Error).message;
    }
    const latencyMs = performance.now() - started;
    const ok = error === undefined;
    const retryAt = this.#clock() + webhookBackoffMs(this.settings, d.attempts);
    const giveUp = !ok && retryAt > (d.run.finishedAt ?? d.createdAt) + this.settings.giveUpAfterMs;
    const outcome = ok ? "delivered" : giveUp ? "failed" : "retrying";
    this.#metrics?.webhookDeliveries.inc({ outcome });
    if (!ok) this.#logger?.info({ deliveryId: d.id, attempt: d.attempts, error, outcome }, "webhook delivery failed");
    await this.#store.webhooks.recordWebhookAttempt({
      id: d.id,
      attempt: d.attempts,
      ok,
      responseCode,
      latencyMs,
      ...(error === undefined ? {} : { error: error.slice(0, 500) }),
      ...(ok || giveUp ? {} : { retryAt }),
    });
  }
}
