// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { WEBHOOK_EVENTS, type WebhookEvent } from "../../store/webhook-store.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";

const NameParams = z.object({ name: z.string().min(1).max(200) });
const IdParams = z.object({ id: z.string().min(1).max(300) });
const WEBHOOK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

const EndpointSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  workflow: z.string(),
  runType: z.enum(["workflow", "task"]),
  secretName: z.string(),
  scheme: z.enum(["standard", "github"]),
  inputMap: z.record(z.string(), z.unknown()).nullable(),
  source: z.enum(["api", "config", "flow"]),
  createdAt: z.number(),
  updatedAt: z.number(),
});
const SubscriptionSchema = z.object({
  id: z.string(),
  namespace: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  workflow: z.string().nullable(),
  runId: z.string().nullable(),
  secretName: z.string(),
  createdAt: z.number(),
});
const DeliverySchema = z.object({
  id: z.string(),
  subscriptionId: z.string(),
  runId: z.string(),
  event: z.string(),
  status: z.enum(["pending", "delivered", "failed"]),
  attempts: z.number(),
  nextAttemptAt: z.number().nullable(),
  lastResponseCode: z.number().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
const items = <T extends z.ZodType>(schema: T) => z.object({ items: z.array(schema), nextCursor: z.null() });

/** A fresh Standard Webhooks signing key. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

/** Checks a subscription URL: http(s) only. */
export function expectWebhookUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KilnError("INVALID_INPUT", `Expected the webhook URL to be an absolute http(s) URL, got "${url}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new KilnError("INVALID_INPUT", `Expected the webhook URL to use http or https, got "${parsed.protocol}"`);
  }
  return parsed.toString();
}

/** Webhooks: incoming endpoints, outgoing subscriptions, the delivery log. */
export const webhookRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "PUT",
    path: "/v1/webhooks/endpoints/:name",
    operationId: "putWebhookEndpoint",
    summary: "Create or replace an incoming webhook: a signed POST /hooks/{namespace}/{name} starts a run",
    tag: "webhooks",
    access: ACCESS.write,
    params: NameParams,
    body: z.strictObject({
      workflow: z.string().min(1).max(200).describe("The workflow (or task kind, with type: task) to start"),
      type: z.enum(["workflow", "task"]).optional(),
      secretFrom: z.string().min(1).max(128).describe("The Kiln secret holding the signing key"),
      scheme: z.enum(["standard", "github"]).optional().describe("Signature scheme; default standard"),
      input: z
        .record(z.string(), z.unknown())
        .optional()
        .describe("`${…}` expressions over input.body, input.headers and input.query; default: the body"),
    }),
    responses: {
      201: { description: "Created", schema: EndpointSchema },
      200: { description: "Replaced", schema: EndpointSchema },
    },
    async handle({ params, body, auth, c, deps }) {
      if (!WEBHOOK_NAME.test(params.name)) {
        throw new KilnError(
          "INVALID_INPUT",
          `Expected the webhook name to be letters, digits, _ . - (starting with a letter or digit), got "${params.name}"`,
        );
      }
      const { endpoint, created } = await deps.store.webhooks.putWebhookEndpoint({
        namespace: auth.namespace,
        name: params.name,
        workflow: body.workflow,
        runType: body.type ?? "workflow",
        secretName: body.secretFrom,
        scheme: body.scheme ?? "standard",
        inputMap: body.input ?? null,
        source: "api",
      });
      return c.json(endpoint, created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/webhooks/endpoints",
    operationId: "listWebhookEndpoints",
    summary: "List incoming webhooks",
    tag: "webhooks",
    access: ACCESS.read,
    responses: { 200: { description: "Endpoints by name", schema: items(EndpointSchema) } },
    async handle({ auth, c, deps }) {
      return c.json({ items: await deps.store.webhooks.listWebhookEndpoints(auth), nextCursor: null });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/webhooks/endpoints/:name",
    operationId: "getWebhookEndpoint",
    summary: "Show an incoming webhook",
    tag: "webhooks",
    access: ACCESS.read,
    params: NameParams,
    responses: { 200: { description: "The endpoint", schema: EndpointSchema } },
    async handle({ params, auth, c, deps }) {
      const endpoint = await deps.store.webhooks.getWebhookEndpoint({ namespace: auth.namespace, name: params.name });
      if (!endpoint) throw new KilnError("WEBHOOK_NOT_FOUND", `No webhook "${params.name}" in "${auth.namespace}"`);
      return c.json(endpoint);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/v1/webhooks/endpoints/:name",
    operationId: "deleteWebhookEndpoint",
    summary: "Delete an incoming webhook",
    tag: "webhooks",
    access: ACCESS.write,
    params: NameParams,
    responses: { 200: { description: "Deleted", schema: z.object({ name: z.string(), deleted: z.literal(true) }) } },
    async handle({ params, auth, c, deps }) {
      if (!(await deps.store.webhooks.deleteWebhookEndpoint({ namespace: auth.namespace, name: params.name }))) {
        throw new KilnError("WEBHOOK_NOT_FOUND", `No webhook "${params.name}" in "${auth.namespace}"`);
      }
      return c.json({ name: params.name, deleted: true as const });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/webhooks/subscriptions",
    operationId: "createWebhookSubscription",
    summary: "Subscribe a URL to run events (signed with Standard Webhooks, retried with backoff for up to 24 h)",
    tag: "webhooks",
    // The answer may carry a new signing secret.
    access: ACCESS.secrets,
    body: z.strictObject({
      url: z.string().min(1).max(2000),
      events: z.array(z.enum(WEBHOOK_EVENTS)).min(1),
      workflow: z.string().min(1).max(200).optional().describe("Only runs of this workflow or task kind"),
      secretFrom: z
        .string()
        .min(1)
        .max(128)
        .optional()
        .describe("A Kiln secret holding a whsec_ key; default: a new key, returned once"),
    }),
    responses: {
      201: {
        description: "The subscription, and its new signing secret when none was given",
        schema: z.object({ subscription: SubscriptionSchema, secret: z.string().optional() }),
      },
    },
    async handle({ body, auth, c, deps }) {
      const url = expectWebhookUrl(body.url);
      let secretName = body.secretFrom;
      let secret: string | undefined;
      if (secretName === undefined) {
        secret = newWebhookSecret();
        secretName = `WEBHOOK_${randomBytes(6).toString("hex").toUpperCase()}`;
        await deps.vault.set({ namespace: auth.namespace, name: secretName, value: secret });
      }
      const subscription = await deps.store.webhooks.createWebhookSubscription({
        namespace: auth.namespace,
        url,
        events: body.events as WebhookEvent[],
        workflow: body.workflow ?? null,
        runId: null,
        secretName,
      });
      return c.json({ subscription, ...(secret === undefined ? {} : { secret }) }, 201);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/webhooks/subscriptions",
    operationId: "listWebhookSubscriptions",
    summary: "List outgoing webhook subscriptions",
    tag: "webhooks",
    access: ACCESS.read,
    responses: { 200: { description: "Subscriptions, oldest first", schema: items(SubscriptionSchema) } },
    async handle({ auth, c, deps }) {
      return c.json({ items: await deps.store.webhooks.listWebhookSubscriptions(auth), nextCursor: null });
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/v1/webhooks/subscriptions/:id",
    operationId: "deleteWebhookSubscription",
    summary: "Unsubscribe (pending deliveries are dropped)",
    tag: "webhooks",
    access: ACCESS.write,
    params: IdParams,
    responses: { 200: { description: "Deleted", schema: z.object({ id: z.string(), deleted: z.literal(true) }) } },
    async handle({ params, auth, c, deps }) {
      if (!(await deps.store.webhooks.deleteWebhookSubscription({ namespace: auth.namespace, id: params.id }))) {
        throw new KilnError(
          "WEBHOOK_SUBSCRIPTION_NOT_FOUND",
          `No webhook subscription ${params.id} in "${auth.namespace}"; list them with \`kiln webhooks list\``,
        );
      }
      return c.json({ id: params.id, deleted: true as const });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/webhooks/deliveries",
    operationId: "listWebhookDeliveries",
    summary: "The delivery log, newest first",
    tag: "webhooks",
    access: ACCESS.read,
    query: z.object({
      subscription: z.string().optional(),
      run: z.string().optional(),
      limit: z.coerce.number().int().min(1).max(1000).optional(),
    }),
    responses: { 200: { description: "Deliveries", schema: items(DeliverySchema) } },
    async handle({ query, auth, c, deps }) {
      const list = await deps.store.webhooks.listWebhookDeliveries({
        namespace: auth.namespace,
        ...(query.subscription === undefined ? {} : { subscriptionId: query.subscription }),
        ...(query.run === undefined ? {} : { runId: query.run }),
        ...(query.limit === undefined ? {} : { limit: query.limit }),
      });
      return c.json({ items: list, nextCursor: null });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/webhooks/deliveries/:id",
    operationId: "getWebhookDelivery",
    summary: "A delivery with its attempts (status, response code, latency)",
    tag: "webhooks",
    access: ACCESS.read,
    params: IdParams,
    responses: {
      200: { description: "The delivery", schema: DeliverySchema.extend({ attemptLog: z.array(z.unknown()) }) },
    },
    async handle({ params, auth, c, deps }) {
      const delivery = await deps.store.webhooks.getWebhookDelivery({ namespace: auth.namespace, id: params.id });
      if (!delivery) {
        throw new KilnError("WEBHOOK_DELIVERY_NOT_FOUND", `No webhook delivery ${params.id} in "${auth.namespace}"`);
      }
      return c.json(delivery);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/webhooks/deliveries/:id/redeliver",
    operationId: "redeliverWebhook",
    summary: "Send a delivery again now (same webhook-id)",
    tag: "webhooks",
    access: ACCESS.write,
    params: IdParams,
    responses: { 200: { description: "The delivery, pending again", schema: DeliverySchema } },
    async handle({ params, auth, c, deps }) {
      return c.json(await deps.store.webhooks.redeliverWebhook({ namespace: auth.namespace, id: params.id }));
    },
  }),
];
