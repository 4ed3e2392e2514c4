import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { KilnError } from "../errors.ts";
import type { WebhookScheme } from "../store/webhook-store.ts";

/** What a verified request says about itself. */
export interface VerifiedWebhook {
  /** The sender's message id (`webhook-id`, `X-GitHub-Delivery`): a second request with it is a replay. */
  readonly messageId: string;
}

/** Headers by lower-case name. */
export type HeaderLookup = (name: string) => string | undefined;

function refused(reason: string): KilnError {
  return new KilnError("WEBHOOK_SIGNATURE_INVALID", `The webhook signature was refused: ${reason}`, {
    data: { reason },
  });
}

/**
 * Verifies an incoming webhook's signature over its raw body, or throws WEBHOOK_SIGNATURE_INVALID.
 *
 * - `standard` (Standard Webhooks): `webhook-id`, `webhook-timestamp`, `webhook-signature`,
 *   checked by the `standardwebhooks` library, which also refuses a timestamp more than 5 minutes
 *   off (the replay window; the message id dedupe covers replays inside it).
 * - `github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. GitHub signs no
 *   timestamp, so replays are refused by the `X-GitHub-Delivery` id alone (kept for good).
 */
export function verifyWebhookSignature(
  scheme: WebhookScheme,
  secret: string,
  rawBody: Buffer,
  header: HeaderLookup,
): VerifiedWebhook {
  if (scheme === "github") {
    const sent = header("x-hub-signature-256");
    if (sent === undefined) throw refused("no X-Hub-Signature-256 header");
    const expected = `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`;
    const a = Buffer.from(sent.trim());
    const b = Buffer.from(expected);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw refused("X-Hub-Signature-256 does not match the body");
    // A sender without a delivery id gets the body's hash as one: the same body twice is a replay.
    const messageId = header("x-github-delivery") ?? `sha256:${createHash("sha256").update(rawBody).digest("hex")}`;
    return { messageId };
  }
  const id = header("webhook-id");
  const timestamp = header("webhook-timestamp");
  const signature = header("webhook-signature");
  if (id === undefined || timestamp === undefined || signature === undefined) {
    throw refused("expected the webhook-id, webhook-timestamp and webhook-signature headers (Standard Webhooks)");
  }
  try {
    new Webhook(secret).verify(rawBody.toString("utf8"), {
      "webhook-id": id,
      "webhook-timestamp": timestamp,
      "webhook-signature": signature,
    });
  } catch (error) {
    if (error instanceof WebhookVerificationError) throw refused(error.message);
    throw refused(`the signing secret is not a valid Standard Webhooks key (${(error as Error).message})`);
  }
  return { messageId: id };
}
