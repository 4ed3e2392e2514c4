import { z } from "zod";

// A `${VAR}` placed as a plain YAML scalar arrives as text: numeric text is accepted.
const numericText = (value: unknown): unknown =>
  typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
const POSITIVE = { error: "a positive number" } as const;
const seconds = (description: string) =>
  z.preprocess(numericText, z.number(POSITIVE).positive(POSITIVE)).describe(description);

/** One incoming webhook in `webhooks:` (kiln.yaml): a signed POST to /hooks/{namespace}/{name} starts a run. */
export const incomingWebhookSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "letters, digits, _ . - (starting with a letter or digit)")
      .describe("The webhook's name: POST /hooks/<namespace>/<name>"),
    workflow: z.string().min(1).optional().describe("The workflow each request starts"),
    task: z.string().min(1).optional().describe("Or: the task kind each request starts"),
    secret_from: z.string().min(1).describe("The Kiln secret holding the signing key"),
    scheme: z
      .enum(["standard", "github"])
      .optional()
      .describe("standard (Standard Webhooks headers, default) or github (X-Hub-Signature-256)"),
    input: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("The run input: $${…} expressions over input.body, input.headers, input.query (default: the body)"),
  })
  .refine((w) => (w.workflow === undefined) !== (w.task === undefined), {
    message: "exactly one of workflow or task",
  })
  .describe("An incoming webhook");

/** `webhook_delivery:` how outgoing webhooks are retried. */
export const webhookDeliverySchema = z
  .strictObject({
    initial_backoff_seconds: seconds(
      "Wait after the first failed attempt, doubled after each one (default 30)",
    ).optional(),
    max_backoff_seconds: seconds("Longest wait between attempts (default 3600)").optional(),
    give_up_after_seconds: seconds("Stop retrying this long after the run ended (default 86400)").optional(),
    timeout_seconds: seconds("One attempt's HTTP timeout (default 10)").optional(),
    poll_interval_seconds: seconds("How often the outbox is polled (default 1)").optional(),
  })
  .describe("How outgoing webhooks (subscriptions, callback URLs) are sent and retried");
