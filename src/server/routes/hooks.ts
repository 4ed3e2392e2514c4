import { z } from "zod";
import { parseDuration } from "../../engine/duration.ts";
import { isTerminal } from "../../engine/status.ts";
import { KilnError } from "../../errors.ts";
import { interpolate } from "../../flow/expressions/expressions.ts";
import { Sandbox } from "../../flow/expressions/sandbox.ts";
import type { WebhookEndpoint } from "../../store/webhook-store.ts";
import { ACCESS, type ApiRoute, type AppContext, defineRoute } from "../api-route.ts";
import type { ServerDeps } from "../server-deps.ts";
import { assertStartable } from "../startable.ts";
import { verifyWebhookSignature } from "../webhook-signature.ts";

/** Largest incoming webhook body (GitHub sends at most 25 MB; most senders far less). */
export const MAX_WEBHOOK_BODY_BYTES = 1_048_576;
/** Longest `?wait=`. */
const MAX_WAIT_MS = 300_000;
/** Requests per second (and burst) one endpoint takes from one address. */
const HOOK_RATE = { perSecond: 50, burst: 200 } as const;

// One sandbox per app, made on the first endpoint with an input map (QuickJS takes a moment to load).
const sandboxes = new WeakMap<ServerDeps, Promise<Sandbox>>();

const HookParams = z.object({ namespace: z.string().min(1).max(63), name: z.string().min(1).max(200) });
const HookQuery = z
  .object({ wait: z.string().optional().describe("Wait this long (e.g. 30s) for the run's result") })
  .catchall(z.string());

/** Reads the raw body, at most MAX_WEBHOOK_BODY_BYTES (PAYLOAD_TOO_LARGE beyond). */
async function readRawBody(c: AppContext): Promise<Buffer> {
  const tooLarge = (n: number) =>
    new KilnError(
      "PAYLOAD_TOO_LARGE",
      `The webhook body is ${n} bytes or more, over the ${MAX_WEBHOOK_BODY_BYTES}-byte limit`,
      { data: { maxBytes: MAX_WEBHOOK_BODY_BYTES } },
    );
  const declared = Number(c.req.header("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > MAX_WEBHOOK_BODY_BYTES) throw tooLarge(declared);
  const stream = c.req.raw.body;
  if (!stream) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_WEBHOOK_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge(size);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The body as a value: JSON for a JSON type; an object of fields for a form (GitHub's form mode
 * sends one `payload` field of JSON, which is unwrapped); otherwise the text.
 */
export function parseWebhookBody(raw: Buffer, contentType: string | undefined): unknown {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const text = raw.toString("utf8");
  if (type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type)) {
    if (text.trim() === "") return null;
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new KilnError("INVALID_JSON", `The webhook body is not valid JSON: ${(cause as Error).message}`, { cause });
    }
  }
  if (type === "application/x-www-form-urlencoded") {
    const fields = Object.fromEntries(new URLSearchParams(text));
    const keys = Object.keys(fields);
    if (keys.length === 1 && keys[0] === "payload") {
      try {
        return JSON.parse(fields.payload as string);
      } catch {
        return fields;
      }
    }
    return fields;
  }
  return text;
}

/** The run input an endpoint makes of a request: the body, or its `${…}` input map over `input.{body,headers,query}`. */
async function runInput(
  deps: ServerDeps,
  endpoint: WebhookEndpoint,
  request: { body: unknown; headers: Record<string, string>; query: Record<string, string> },
): Promise<unknown> {
  if (endpoint.inputMap === null) return request.body;
  let sandbox = sandboxes.get(deps);
  if (sandbox === undefined) {
    sandbox = Sandbox.create();
    sandboxes.set(deps, sandbox);
  }
  return interpolate(await sandbox, endpoint.inputMap, { input: request }).value;
}

async function waitForRun(deps: ServerDeps, namespace: string, id: string, ms: number) {
  const until = Date.now() + ms;
  for (;;) {
    const run = await deps.store.getRun({ namespace, id });
    if (!run || isTerminal(run.status) || Date.now() >= until) return run;
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, Math.max(1, until - Date.now()))));
  }
}

/** Incoming webhooks: `POST /hooks/{namespace}/{name}`, authenticated by the endpoint's signature. */
export const hookRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "POST",
    path: "/hooks/:namespace/:name",
    operationId: "receiveWebhook",
    summary:
      "Start a run from a signed webhook (Standard Webhooks or GitHub X-Hub-Signature-256); JSON, form or text bodies",
    tag: "webhooks",
    access: ACCESS.public,
    params: HookParams,
    query: HookQuery,
    responses: {
      202: {
        description: "The run started (or, for a message id seen before, the run it started)",
        schema: z.object({ runId: z.string(), status: z.string(), duplicate: z.boolean() }),
      },
      200: {
        description: "With ?wait=: the run ended in time",
        schema: z.object({
          runId: z.string(),
          status: z.string(),
          duplicate: z.boolean(),
          output: z.unknown(),
          error: z.unknown(),
        }),
      },
    },
    async handle({ params, query, c, deps }) {
      const address = c.env?.incoming?.socket?.remoteAddress ?? "-";
      if (deps.auth.rateLimit.anonymous !== false) {
        const waitMs = deps.rateLimiter.take(`hook:${params.namespace}/${params.name}:${address}`, HOOK_RATE);
        if (waitMs > 0) {
          const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
          throw new KilnError(
            "RATE_LIMITED",
            `Too many webhook requests for ${params.namespace}/${params.name} (${HOOK_RATE.perSecond}/s); retry after ${retryAfterSeconds} s`,
            { data: { retryAfterSeconds } },
          );
        }
      }
      const waitMs = query.wait === undefined ? 0 : Math.min(MAX_WAIT_MS, parseDuration(query.wait, "wait"));
      const endpoint = await deps.store.webhooks.getWebhookEndpoint(params);
      if (!endpoint) {
        throw new KilnError(
          "WEBHOOK_NOT_FOUND",
          `No webhook "${params.name}" in namespace "${params.namespace}"; create it with \`kiln webhooks create ${params.name} --workflow NAME --secret-from SECRET\``,
        );
      }
      const raw = await readRawBody(c);
      const secret = (await deps.vault.getValues({ namespace: endpoint.namespace, names: [endpoint.secretName] }))[
        endpoint.secretName
      ];
      if (secret === undefined) {
        throw new KilnError(
          "WEBHOOK_SECRET_MISSING",
          `The webhook "${endpoint.name}" signs with secret ${endpoint.secretName}, which is not set in namespace "${endpoint.namespace}"; set it with \`kiln secrets set ${endpoint.secretName}\``,
        );
      }
      let messageId: string;
      try {
        ({ messageId } = verifyWebhookSignature(endpoint.scheme, secret, raw, (h) => c.req.header(h)));
      } catch (error) {
        deps.metrics.webhookRequests.inc({ outcome: "refused" });
        // Logged without the body: an unsigned body is untrusted input of any size.
        deps.logger.warn(
          {
            namespace: endpoint.namespace,
            webhook: endpoint.name,
            address,
            bytes: raw.length,
            reason: (error as KilnError).data?.reason,
          },
          "webhook signature refused",
        );
        throw error;
      }
      const headers: Record<string, string> = {};
      c.req.raw.headers.forEach((value, key) => {
        headers[key] = value;
      });
      const { wait: _, ...rest } = query;
      const body = parseWebhookBody(raw, c.req.header("content-type"));
      let input = await runInput(deps, endpoint, { body, headers, query: rest as Record<string, string> });
      let version: string | null = null;
      if (endpoint.runType === "workflow") {
        const versions = await deps.store.listWorkflowVersions({
          namespace: endpoint.namespace,
          name: endpoint.workflow,
        });
        version = versions[0]?.version ?? null;
        if (versions.length === 0) {
          await assertStartable(deps.store, {
            namespace: endpoint.namespace,
            type: "workflow",
            name: endpoint.workflow,
            deployed: false,
          });
        }
      } else {
        const { secretFields } = await assertStartable(deps.store, {
          namespace: endpoint.namespace,
          type: "task",
          name: endpoint.workflow,
          deployed: false,
        });
        input = deps.vault.sealInput({ namespace: endpoint.namespace, input, fields: secretFields });
      }
      // The message id is the idempotency key: a replayed (or retried) message gets the run it started.
      const { run, created } = await deps.store.startRun({
        namespace: endpoint.namespace,
        type: endpoint.runType,
        name: endpoint.workflow,
        input,
        version,
        idempotencyKey: `webhook:${endpoint.name}:${messageId}`,
        metadata: { webhook: endpoint.name, webhookMessageId: messageId },
      });
      deps.metrics.webhookRequests.inc({ outcome: created ? "accepted" : "duplicate" });
      if (created) deps.live.poke([], endpoint.namespace);
      if (waitMs > 0) {
        const ended = await waitForRun(deps, endpoint.namespace, run.id, waitMs);
        if (ended && isTerminal(ended.status)) {
          return c.json(
            { runId: run.id, status: ended.status, duplicate: !created, output: ended.output, error: ended.error },
            200,
          );
        }
      }
      return c.json({ runId: run.id, status: run.status, duplicate: !created }, 202);
    },
  }),
];
