import type { ResolvedEmailService } from "../../config/resolved-config.ts";
import { KilnError } from "../../errors.ts";
import type { NodeContext, StepNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";
import { sendMail, type SmtpOptions } from "./smtp-client.ts";

/** The worker's SMTP settings: defaults of every email.send node (params override them). */
export interface EmailSettings extends ResolvedEmailService {
  readonly heloName?: string;
  readonly timeoutMs?: number;
  readonly rejectUnauthorized?: boolean;
}

const RULES: ParamRules = {
  to: { kind: ["string", "array"], required: true },
  cc: { kind: ["string", "array"] },
  bcc: { kind: ["string", "array"] },
  from: { kind: "string" },
  reply_to: { kind: "string" },
  subject: { kind: "string", required: true },
  text: { kind: "string" },
  html: { kind: "string" },
  smtp: { kind: "object" },
};

const SMTP_RULES: ParamRules = {
  host: { kind: "string" },
  port: { kind: "integer" },
  secure: { kind: "boolean" },
  starttls: { kind: "string", values: ["auto", "always", "never"] },
  username: { kind: "string" },
  password: { kind: "string" },
  timeout: { kind: "duration" },
};

/** The SMTP options of one node visit: its `smtp` params over the worker's settings. */
function smtpOptions(params: Readonly<Record<string, unknown>>, settings: EmailSettings): SmtpOptions {
  const smtp = paramReader("email.send smtp", paramReader("email.send", params).record("smtp") ?? {});
  const host = smtp.string("host") ?? settings.host;
  if (host === undefined) {
    throw new KilnError(
      "INVALID_CONFIG",
      "email.send has no SMTP server: give params.smtp.host, or configure the worker's email settings",
    );
  }
  const secure = smtp.boolean("secure") ?? settings.secure ?? false;
  const starttls = smtp.string("starttls") ?? settings.starttls ?? "auto";
  const username = smtp.string("username") ?? settings.username;
  const password = smtp.string("password") ?? settings.password;
  const heloName = settings.heloName;
  return {
    host,
    port: smtp.number("port") ?? settings.port ?? (secure ? 465 : 587),
    secure,
    starttls: starttls === "always" || starttls === "never" ? starttls : "auto",
    timeoutMs: smtp.duration("timeout") ?? settings.timeoutMs ?? 30_000,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(heloName === undefined ? {} : { heloName }),
    ...(settings.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: settings.rejectUnauthorized }),
  };
}

async function sendEmail(params: Readonly<Record<string, unknown>>, ctx: NodeContext) {
  const read = paramReader("email.send", params);
  const settings = ctx.services.email ?? {};
  const from = read.string("from") ?? settings.from;
  if (from === undefined) throw new KilnError("INVALID_INPUT", 'email.send needs "from" (or a configured sender)');
  const text = read.string("text");
  const html = read.string("html");
  const cc = read.stringList("cc");
  const bcc = read.stringList("bcc");
  const replyTo = read.string("reply_to");
  // A Message-ID derived from the step keeps a retried send recognizable as the same message.
  const messageId = `${ctx.idempotencyKey.replace(/[^A-Za-z0-9.-]/g, ".")}@${settings.heloName ?? "kiln.local"}`;
  const result = await sendMail(
    smtpOptions(params, settings),
    {
      from,
      to: read.stringList("to") ?? [],
      subject: read.string("subject") ?? "",
      messageId,
      ...(cc === undefined ? {} : { cc }),
      ...(bcc === undefined ? {} : { bcc }),
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(text === undefined && html === undefined ? { text: "" } : {}),
      ...(text === undefined ? {} : { text }),
      ...(html === undefined ? {} : { html }),
    },
    ctx.signal,
  );
  return {
    message_id: result.messageId,
    accepted: result.accepted,
    rejected: result.rejected,
    response: result.response,
  };
}

/**
 * `email.send`: hands a message (`to`, `cc`, `bcc`, `from`, `subject`, `text` and/or `html`) to an
 * SMTP server: `params.smtp` ({ host, port, secure, starttls, username, password, timeout }) over
 * the worker's email settings. The output is `{ message_id, accepted, rejected, response }`.
 */
export const emailSendNode: StepNodeType = {
  type: "email.send",
  kind: "step",
  description: "Sends an email through an SMTP server",
  checkParams: (params) => {
    const problems = checkParamRules("email.send", RULES, params);
    const smtp = params.smtp;
    if (smtp !== null && typeof smtp === "object" && !Array.isArray(smtp)) {
      for (const problem of checkParamRules("email.send smtp", SMTP_RULES, smtp as Record<string, unknown>)) {
        problems.push({ ...problem, path: ["smtp", ...problem.path] });
      }
    }
    return problems;
  },
  run: sendEmail,
};
