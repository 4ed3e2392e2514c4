// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { createHash } from "node:crypto";
import type { ImapFlow } from "imapflow";
import type { AddressObject } from "mailparser";
import { parseDuration } from "../../engine/duration.ts";
import { KilnError } from "../../errors.ts";
import type { NodeContext, NodeParams, StepNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";
import { type OpenedStore, openStore, STORE_RULE, sha256Of } from "./storage-store.ts";

/**
 * `email.receive`: reads the messages of an IMAP folder matching a search, through imapflow,
 * parsed by mailparser; optionally marks them seen or moves them. Its trigger form (`start`)
 * makes it a mailbox poller: in a flow started by `trigger.schedule`, it starts one run of a
 * workflow per message, each with an idempotency key derived from the Message-ID, so a message
 * fetched again (a crash before it was marked, an overlapping search) never starts a second run.
 */

const DEFAULT_LIMIT = 20;
const DEFAULT_MAX_INLINE_BYTES = 5 * 1024 * 1024;

const IMAP_FIELDS: ParamRules = {
  host: { kind: "string", required: true, description: "IMAP server" },
  port: { kind: "integer", description: "default 993 with secure, else 143" },
  secure: { kind: "boolean", description: "implicit TLS (port 993)" },
  starttls: {
    kind: "string",
    values: ["auto", "always", "never"],
    description: "auto (default: upgrade when offered), always, never",
  },
  username: { kind: "string", required: true, description: "login user" },
  password: { kind: "string", required: true, description: "usually ${secrets.IMAP_PASSWORD}" },
  reject_unauthorized: { kind: "boolean", description: "verify the server certificate (default true)" },
  timeout: { kind: "duration", description: "connection and reply timeout (default 30s)" },
};

const START_FIELDS: ParamRules = {
  workflow: { kind: "string", required: true, description: "the workflow (or flow) to start per message" },
  queue: { kind: "string", description: "queue of the runs" },
};

const RULES: ParamRules = {
  imap: { kind: "object", required: true, fields: IMAP_FIELDS, description: "the mailbox to read" },
  folder: { kind: "string", description: "default INBOX" },
  unseen: { kind: "boolean", description: "only messages not marked seen (default true)" },
  from: { kind: "string", description: "only messages whose From contains this" },
  subject: { kind: "string", description: "only messages whose Subject contains this" },
  since: {
    kind: ["string", "number"],
    description: 'only messages on or after this date (ISO 8601, or a duration ago: "7d")',
  },
  limit: { kind: "integer", description: "at most this many messages, oldest first (default 20)" },
  mark_seen: { kind: "boolean", description: "mark the fetched messages seen (default false)" },
  move_to: { kind: "string", description: "move the fetched messages to this folder" },
  store: {
    ...STORE_RULE,
    description: "write attachments here and output references instead of inline base64 (see storage.put)",
  },
  max_inline_bytes: {
    kind: "integer",
    description: "largest attachment kept inline as base64 without a store (default 5 MiB)",
  },
  start: {
    kind: "object",
    fields: START_FIELDS,
    description:
      "trigger form: start one run of this workflow per message (input: the message), deduplicated by Message-ID",
  },
};

/** One fetched message, as the node outputs it. */
export interface ReceivedMessage {
  readonly uid: number;
  readonly message_id: string;
  readonly from: string;
  readonly to: string;
  readonly cc: string;
  readonly subject: string;
  readonly date: string | null;
  readonly text: string;
  readonly html: string | null;
  readonly attachments: readonly Record<string, unknown>[];
}

/** What a run-starting service returns (the trigger form). */
export interface StartedRun {
  readonly id: string;
  readonly created: boolean;
}

const addressText = (value: AddressObject | AddressObject[] | undefined): string =>
  value === undefined ? "" : (Array.isArray(value) ? value : [value]).map((a) => a.text).join(", ");

function sinceDate(value: string | number | undefined, now: number): Date | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string" && /^\d+(ms|s|m|h|d)$/.test(value.trim())) {
    return new Date(now - parseDuration(value, 'param "since" of email.receive'));
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "since" of email.receive to be a date or a duration ago, got "${value}"`,
    );
  }
  return date;
}

async function imapClient(params: NodeParams): Promise<{ client: ImapFlow; account: string }> {
  const imap = paramReader("email.receive imap", paramReader("email.receive", params).record("imap") ?? {});
  const host = imap.requiredString("host");
  const user = imap.requiredString("username");
  const secure = imap.boolean("secure") ?? false;
  const starttls = imap.string("starttls") ?? "auto";
  const timeoutMs = imap.duration("timeout") ?? 30_000;
  // imapflow is loaded on first use, so CLI commands that never read mail do not pay for it.
  const { ImapFlow } = await import("imapflow");
  const client = new ImapFlow({
    host,
    port: imap.number("port") ?? (secure ? 993 : 143),
    secure,
    auth: { user, pass: imap.requiredString("password") },
    // imapflow's logger would print the protocol exchange, credentials included.
    logger: false,
    disableAutoIdle: true,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    ...(starttls === "auto" ? {} : { doSTARTTLS: starttls === "always" }),
    tls: { rejectUnauthorized: imap.boolean("reject_unauthorized") ?? true },
  });
  return { client, account: `${user}@${host}` };
}

/** An imapflow failure as EMAIL_RECEIVE_FAILED: a refused login is not retryable, connection trouble is. */
function receiveFailure(error: unknown): KilnError {
  if (error instanceof KilnError) return error;
  const e = error as Error & { authenticationFailed?: boolean; responseText?: string; code?: string };
  const detail = e.responseText ?? e.message;
  return new KilnError("EMAIL_RECEIVE_FAILED", `The IMAP server refused or failed: ${detail}`, {
    retryable: e.authenticationFailed !== true,
    cause: error,
    data: { ...(e.code === undefined ? {} : { reason: e.code }), ...(e.authenticationFailed ? { auth: true } : {}) },
  });
}

interface Attachment {
  readonly filename: string;
  readonly contentType: string;
  readonly content: Buffer;
}

async function attachmentOutputs(
  attachments: readonly Attachment[],
  where: { store: OpenedStore | undefined; folder: string; uidValidity: string; uid: number; maxInline: number },
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const [i, a] of attachments.entries()) {
    const sha256 = sha256Of(a.content);
    const meta = { filename: a.filename, content_type: a.contentType, size: a.content.length, sha256 };
    if (where.store !== undefined) {
      const name = a.filename.replace(/[^A-Za-z0-9._-]/g, "_") || `attachment-${i}`;
      const key = `email/${where.folder.replace(/[^A-Za-z0-9._-]/g, "_")}/${where.uidValidity}-${where.uid}/${i}-${name}`;
      await where.store.putObject({ key, body: a.content, contentType: a.contentType, sha256 });
      out.push({
        ...meta,
        ref: { location: where.store.location, key, size: a.content.length, sha256, content_type: a.contentType },
      });
    } else if (a.content.length > where.maxInline) {
      throw new KilnError(
        "INVALID_INPUT",
        `Attachment "${a.filename}" of message ${where.uid} is ${a.content.length} bytes, over max_inline_bytes ${where.maxInline}; give email.receive a "store" to pass attachments by reference`,
      );
    } else out.push({ ...meta, content_base64: a.content.toString("base64") });
  }
  return out;
}

/** The idempotency key of the run started for one message: stable across polls and crashes. */
export function messageRunKey(workflow: string, account: string, messageId: string): string {
  const digest = createHash("sha256").update(`${account}\n${messageId}`).digest("hex").slice(0, 40);
  return `email:${workflow}:${digest}`;
}

async function receive(params: NodeParams, ctx: NodeContext) {
  const read = paramReader("email.receive", params);
  const folder = read.string("folder") ?? "INBOX";
  const limit = Math.max(1, Math.floor(read.number("limit") ?? DEFAULT_LIMIT));
  const moveTo = read.string("move_to");
  const start = read.record("start");
  const startWorkflow =
    start === undefined ? undefined : paramReader("email.receive start", start).requiredString("workflow");
  const startQueue = start === undefined ? undefined : paramReader("email.receive start", start).string("queue");
  if (startWorkflow !== undefined && ctx.services.startRun === undefined) {
    throw new KilnError(
      "INVALID_CONFIG",
      "email.receive `start` needs a worker that can start runs (kiln dev, kiln worker --db); this worker cannot",
    );
  }
  const query: Record<string, unknown> = {};
  if (read.boolean("unseen") ?? true) query.seen = false;
  const from = read.string("from");
  if (from !== undefined) query.from = from;
  const subject = read.string("subject");
  if (subject !== undefined) query.subject = subject;
  const since = sinceDate(read.raw("since") as string | number | undefined, Date.now());
  if (since !== undefined) query.since = since;
  const store = params.store === undefined ? undefined : await openStore("email.receive", params.store);
  const maxInline = read.number("max_inline_bytes") ?? DEFAULT_MAX_INLINE_BYTES;

  const { client, account } = await imapClient(params);
  const { simpleParser } = await import("mailparser");
  const abort = () => client.close();
  ctx.signal.addEventListener("abort", abort, { once: true });
  try {
    await client.connect();
    const lock = await client.getMailboxLock(folder);
    try {
      const uidValidity = String(client.mailbox === false ? 0 : client.mailbox.uidValidity);
      const found = (await client.search(query, { uid: true })) || [];
      const uids = [...found].sort((a, b) => a - b).slice(0, limit);
      const messages: ReceivedMessage[] = [];
      if (uids.length > 0) {
        for await (const fetched of client.fetch(uids, { uid: true, source: true }, { uid: true })) {
          if (fetched.source === undefined) continue;
          const mail = await simpleParser(fetched.source);
          messages.push({
            uid: fetched.uid,
            message_id: mail.messageId ?? `<uid-${uidValidity}-${fetched.uid}@${account}>`,
            from: addressText(mail.from),
            to: addressText(mail.to),
            cc: addressText(mail.cc),
            subject: mail.subject ?? "",
            date: mail.date?.toISOString() ?? null,
            text: mail.text ?? "",
            html: typeof mail.html === "string" ? mail.html : null,
            attachments: await attachmentOutputs(
              mail.attachments.map((a, i) => ({
                filename: a.filename ?? `attachment-${i}`,
                contentType: a.contentType,
                content: a.content,
              })),
              { store, folder, uidValidity, uid: fetched.uid, maxInline },
            ),
          });
        }
      }
      messages.sort((a, b) => a.uid - b.uid);
      // Runs first, flags after: a crash in between re-finds the messages, and the keys dedupe them.
      const started: { message_id: string; run_id: string; created: boolean }[] = [];
      if (startWorkflow !== undefined && ctx.services.startRun !== undefined) {
        for (const message of messages) {
          const run = await ctx.services.startRun({
            namespace: ctx.run.namespace,
            name: startWorkflow,
            input: message,
            idempotencyKey: messageRunKey(startWorkflow, account, message.message_id),
            ...(startQueue === undefined ? {} : { queue: startQueue }),
          });
          started.push({ message_id: message.message_id, run_id: run.id, created: run.created });
          ctx.log(`${run.created ? "started" : "already started"} run ${run.id} for ${message.message_id}`);
        }
      }
      const done = messages.map((m) => m.uid);
      if (done.length > 0 && (read.boolean("mark_seen") ?? false)) {
        await client.messageFlagsAdd(done, ["\\Seen"], { uid: true });
      }
      if (done.length > 0 && moveTo !== undefined) await client.messageMove(done, moveTo, { uid: true });
      return {
        folder,
        messages: startWorkflow === undefined ? messages : messages.map(({ text: _t, html: _h, ...rest }) => rest),
        ...(startWorkflow === undefined ? {} : { started }),
      };
    } finally {
      lock.release();
    }
  } catch (error) {
    throw receiveFailure(error);
  } finally {
    ctx.signal.removeEventListener("abort", abort);
    store?.close();
    await client.logout().catch(() => client.close());
  }
}

/** The `email.receive` node type. */
export const emailReceiveNode: StepNodeType = {
  type: "email.receive",
  kind: "step",
  description:
    "Reads messages from an IMAP folder (search by unseen, from, subject, since), optionally marks them seen or moves them. " +
    "Output { folder, messages: [{ uid, message_id, from, to, cc, subject, date, text, html, attachments }] }; " +
    "with start, one run per message (deduplicated by Message-ID) and { started: [{ message_id, run_id, created }] }",
  params: RULES,
  checkParams: (params) => checkParamRules("email.receive", RULES, params),
  run: receive,
};
