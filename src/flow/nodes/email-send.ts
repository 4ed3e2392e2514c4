// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import type { ResolvedEmailService } from "../../config/resolved-config.ts";
import { KilnError } from "../../errors.ts";
import { type AttachmentSpec, readAttachments } from "./email-attachments.ts";
import type { NodeContext, StepNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";
import { STORE_RULE } from "./storage-store.ts";

/** The worker's SMTP settings: defaults of every email.send node (params override them). */
export interface EmailSettings extends ResolvedEmailService {
  readonly heloName?: string;
  readonly timeoutMs?: number;
  readonly rejectUnauthorized?: boolean;
}

const SMTP_FIELDS: ParamRules = {
  host: { kind: "string", description: "SMTP server (default: the worker's services.email.host)" },
  port: { kind: "integer", description: "default 465 with secure, else 587" },
  secure: { kind: "boolean", description: "implicit TLS from the first byte (port 465)" },
  starttls: {
    kind: "string",
    values: ["auto", "always", "never"],
    description: "auto (default: upgrade when offered), always (fail without it), never",
  },
  username: { kind: "string", description: "AUTH user" },
  password: { kind: "string", description: "AUTH password, usually ${secrets.SMTP_PASSWORD}" },
  timeout: { kind: "duration", description: "connection and reply timeout (default 30s)" },
};

const ATTACHMENT_FIELDS: ParamRules = {
  filename: { kind: "string", description: "the name the recipient sees" },
  content: { kind: "any", description: "text or JSON, e.g. ${nodes.report.output.stdout}" },
  encoding: { kind: "string", values: ["utf8", "base64"], description: "how content is written (default utf8)" },
  content_type: { kind: "string", description: "MIME type (default: from the filename)" },
  ref: { kind: ["object", "string"], description: "a storage reference (a storage.put output) read from store" },
  store: STORE_RULE,
};

const RULES: ParamRules = {
  to: { kind: ["string", "array"], required: true, description: "recipients; `Name <a@b>` works" },
  cc: { kind: ["string", "array"], description: "copy recipients" },
  bcc: { kind: ["string", "array"], description: "blind copy recipients" },
  from: { kind: "string", description: "sender (default: the worker's services.email.from)" },
  reply_to: { kind: "string", description: "Reply-To address" },
  subject: { kind: "string", required: true, description: "subject; ${…} templates expand" },
  text: { kind: "string", description: "plain-text body; ${…} templates expand" },
  html: { kind: "string", description: "HTML body; ${…} templates expand" },
  attachments: {
    kind: "array",
    description: `list of { ${Object.keys(ATTACHMENT_FIELDS).join(", ")} }: inline content or a storage reference`,
  },
  smtp: { kind: "object", fields: SMTP_FIELDS, description: "SMTP server settings over the worker's" },
};

/** The nodemailer transport options of one node visit: its `smtp` params over the worker's settings. */
function transportOptions(params: Readonly<Record<string, unknown>>, settings: EmailSettings) {
  const smtp = paramReader("email.send smtp", paramReader("email.send", params).record("smtp") ?? {});
  const host = smtp.string("host") ?? settings.host;
  if (host === undefined) {
    throw new KilnError(
      "INVALID_CONFIG",
      "email.send has no SMTP server: give params.smtp.host, or configure the worker's services.email.host",
    );
  }
  const secure = smtp.boolean("secure") ?? settings.secure ?? false;
  const starttls = smtp.string("starttls") ?? settings.starttls ?? "auto";
  const username = smtp.string("username") ?? settings.username;
  const password = smtp.string("password") ?? settings.password;
  const timeoutMs = smtp.duration("timeout") ?? settings.timeoutMs ?? 30_000;
  return {
    host,
    port: smtp.number("port") ?? settings.port ?? (secure ? 465 : 587),
    secure,
    requireTLS: starttls === "always",
    ignoreTLS: starttls === "never",
    name: settings.heloName ?? "kiln.local",
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    // Never let nodemailer log: its debug output would carry the AUTH exchange.
    logger: false,
    debug: false,
    ...(username === undefined ? {} : { auth: { user: username, pass: password ?? "" } }),
    ...(settings.rejectUnauthorized === undefined ? {} : { tls: { rejectUnauthorized: settings.rejectUnauthorized } }),
  };
}

/** A nodemailer failure as EMAIL_SEND_FAILED: retryable unless the server refused for good (5xx, bad auth). */
function sendFailure(error: unknown): KilnError {
  const e = error as Error & { code?: string; responseCode?: number; response?: string; command?: string };
  const permanent = (e.responseCode !== undefined && e.responseCode >= 500) || e.code === "EAUTH";
  return new KilnError("EMAIL_SEND_FAILED", `The SMTP server did not take the message: ${e.message}`, {
    retryable: !permanent,
    cause: error,
    data: {
      ...(e.code === undefined ? {} : { reason: e.code }),
      ...(e.responseCode === undefined ? {} : { reply_code: e.responseCode }),
    },
  });
}

/** Refuses addresses with line breaks, which would let data inject headers. */
function addresses(read: ReturnType<typeof paramReader>, key: string): string[] | undefined {
  const list = read.stringList(key);
  if (list?.some((address) => /[\r\n\0]/.test(address))) {
    throw new KilnError("INVALID_INPUT", `An address in "${key}" of email.send contains a line break; remove it`);
  }
  return list;
}

async function sendEmail(params: Readonly<Record<string, unknown>>, ctx: NodeContext) {
  const read = paramReader("email.send", params);
  const settings = ctx.services.email ?? {};
  const from = read.string("from") ?? settings.from;
  if (from === undefined) {
    throw new KilnError("INVALID_INPUT", 'email.send needs "from" (or the worker\'s services.email.from)');
  }
  const to = addresses(read, "to") ?? [];
  if (to.length === 0) throw new KilnError("INVALID_INPUT", 'email.send needs at least one recipient in "to"');
  const subject = read.string("subject") ?? "";
  if (/[\r\n]/.test(subject)) throw new KilnError("INVALID_INPUT", "The subject of email.send contains a line break");
  const text = read.string("text");
  const html = read.string("html");
  const cc = addresses(read, "cc");
  const bcc = addresses(read, "bcc");
  const replyTo = read.string("reply_to");
  const attachments = await readAttachments((read.list("attachments") ?? []) as AttachmentSpec[]);
  // A Message-ID derived from the step keeps a retried send recognizable as the same message.
  const messageId = `<${ctx.idempotencyKey.replace(/[^A-Za-z0-9.-]/g, ".")}@${settings.heloName ?? "kiln.local"}>`;
  // nodemailer is loaded on first use, so CLI commands that never send mail do not pay for it.
  const { createTransport } = await import("nodemailer");
  const transport = createTransport(transportOptions(params, settings));
  const abort = () => transport.close();
  ctx.signal.addEventListener("abort", abort, { once: true });
  try {
    const info = await transport.sendMail({
      from,
      to,
      subject,
      messageId,
      ...(cc === undefined ? {} : { cc }),
      ...(bcc === undefined ? {} : { bcc }),
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(text === undefined && html === undefined ? { text: "" } : {}),
      ...(text === undefined ? {} : { text }),
      ...(html === undefined ? {} : { html }),
      attachments: attachments.map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
    });
    return {
      message_id: info.messageId,
      accepted: info.accepted.map(String),
      rejected: info.rejected.map(String),
      response: info.response,
      attachments: attachments.map((a) => ({ filename: a.filename, size: a.content.length })),
    };
  } catch (error) {
    throw sendFailure(error);
  } finally {
    ctx.signal.removeEventListener("abort", abort);
    transport.close();
  }
}

/**
 * `email.send`: hands a message to an SMTP server through nodemailer (STARTTLS or implicit TLS,
 * AUTH), with text and/or HTML bodies and attachments (inline content or storage references).
 * The output is `{ message_id, accepted, rejected, response, attachments }`.
 */
export const emailSendNode: StepNodeType = {
  type: "email.send",
  kind: "step",
  description:
    "Sends an email through an SMTP server. Output { message_id, accepted, rejected, response, attachments }; " +
    "connection trouble and 4xx replies are retryable, 5xx and bad credentials are not",
  params: RULES,
  checkParams: (params) => {
    const problems = checkParamRules("email.send", RULES, params);
    const list = params.attachments;
    if (Array.isArray(list)) {
      list.forEach((item, i) => {
        if (item === null || typeof item !== "object" || Array.isArray(item)) {
          problems.push({ path: ["attachments", i], message: "Expected each attachment to be a mapping" });
          return;
        }
        for (const problem of checkParamRules("email.send attachment", ATTACHMENT_FIELDS, item)) {
          problems.push({ ...problem, path: ["attachments", i, ...problem.path] });
        }
      });
    }
    return problems;
  },
  run: sendEmail,
};
