import { randomUUID } from "node:crypto";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { KilnError } from "../../errors.ts";

/**
 * A small SMTP submission client (RFC 5321): EHLO, optional STARTTLS or implicit TLS, AUTH
 * PLAIN/LOGIN, MAIL/RCPT/DATA, QUIT. Enough to hand a message to a relay or a provider's SMTP
 * endpoint; it is not a mail server (no MX lookup, no queue: the flow node's retries are the queue).
 */

/** How to reach the SMTP server. */
export interface SmtpOptions {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS from the first byte (port 465). */
  readonly secure: boolean;
  /** `auto`: upgrade when the server offers STARTTLS; `always`: fail without it; `never`. */
  readonly starttls: "auto" | "always" | "never";
  readonly username?: string;
  readonly password?: string;
  /** The name sent in EHLO (default `kiln.local`). */
  readonly heloName?: string;
  readonly timeoutMs: number;
  /** Verify the server certificate (default true). */
  readonly rejectUnauthorized?: boolean;
}

/** One message. Addresses are `a@b` or `Name <a@b>`. */
export interface MailMessage {
  readonly from: string;
  readonly to: readonly string[];
  readonly cc?: readonly string[];
  readonly bcc?: readonly string[];
  readonly replyTo?: string;
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
  /** Without angle brackets; default a random id at the host. */
  readonly messageId?: string;
}

/** What the server said. */
export interface SendMailResult {
  readonly messageId: string;
  readonly accepted: readonly string[];
  readonly rejected: readonly string[];
  readonly response: string;
}

interface Reply {
  readonly code: number;
  readonly text: string;
}

const smtpError = (message: string, retryable: boolean, data: Record<string, unknown> = {}) =>
  new KilnError("EMAIL_SEND_FAILED", message, { retryable, data });

/** The bare address of `Name <a@b>` or `a@b`; refuses line breaks (header and command injection). */
export function mailbox(address: string): string {
  if (/[\r\n\0]/.test(address)) throw new KilnError("INVALID_INPUT", "An email address may not contain line breaks");
  const angle = /<([^<>]*)>\s*$/.exec(address);
  const bare = (angle ? (angle[1] as string) : address).trim();
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(bare)) {
    throw new KilnError("INVALID_INPUT", `Expected an email address like "a@example.com", got "${address}"`);
  }
  return bare;
}

/** RFC 2047 encoding of a header value that is not plain ASCII. */
function encodeHeader(value: string): string {
  if (/[\r\n]/.test(value)) throw new KilnError("INVALID_INPUT", "Email header values may not contain line breaks");
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  return `=?UTF-8?B?${Buffer.from(value, "utf8").toString("base64")}?=`;
}

const base64Lines = (text: string) =>
  (
    Buffer.from(text, "utf8")
      .toString("base64")
      .match(/.{1,76}/g) ?? []
  ).join("\r\n");

/** The message as RFC 5322 text (CRLF line ends, not dot-stuffed). */
export function formatMessage(message: MailMessage, messageId: string, date: Date): string {
  const headers = [
    `From: ${encodeHeader(message.from)}`,
    `To: ${message.to.map(encodeHeader).join(", ")}`,
    ...(message.cc && message.cc.length > 0 ? [`Cc: ${message.cc.map(encodeHeader).join(", ")}`] : []),
    ...(message.replyTo ? [`Reply-To: ${encodeHeader(message.replyTo)}`] : []),
    `Subject: ${encodeHeader(message.subject)}`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: <${messageId}>`,
    "MIME-Version: 1.0",
  ];
  const part = (type: string, body: string) =>
    `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(body)}`;
  if (message.text !== undefined && message.html !== undefined) {
    const boundary = `kiln-${randomUUID()}`;
    return [
      ...headers,
      `Content-Type: multipart/alternative; boundary="${boundary}"`,
      "",
      `--${boundary}`,
      part("text/plain", message.text),
      `--${boundary}`,
      part("text/html", message.html),
      `--${boundary}--`,
      "",
    ].join("\r\n");
  }
  const html = message.html !== undefined;
  return [...headers, part(html ? "text/html" : "text/plain", message.html ?? message.text ?? ""), ""].join("\r\n");
}

/** One SMTP conversation over a socket that may be upgraded to TLS. */
class SmtpConnection {
  #socket: Socket | TLSSocket;
  #buffer = "";
  #lines: string[] = [];
  #waiter: { resolve: (reply: Reply) => void; reject: (error: Error) => void } | undefined;
  #failure: Error | undefined;
  readonly #onData = (chunk: Buffer) => this.#receive(chunk.toString("latin1"));
  readonly #onError = (error: Error) => this.#fail(smtpError(`SMTP connection failed: ${error.message}`, true));
  readonly #onClose = () => this.#fail(smtpError("The SMTP server closed the connection", true));

  constructor(socket: Socket | TLSSocket) {
    this.#socket = socket;
    this.#attach();
  }

  #attach(): void {
    this.#socket.on("data", this.#onData);
    this.#socket.on("error", this.#onError);
    this.#socket.on("close", this.#onClose);
  }

  #detach(): void {
    this.#socket.off("data", this.#onData);
    this.#socket.off("error", this.#onError);
    this.#socket.off("close", this.#onClose);
  }

  #receive(text: string): void {
    this.#buffer += text;
    let newline = this.#buffer.indexOf("\n");
    while (newline >= 0) {
      const line = this.#buffer.slice(0, newline).replace(/\r$/, "");
      this.#buffer = this.#buffer.slice(newline + 1);
      this.#lines.push(line);
      // The last line of a reply has a space (or nothing) after the code; others have "-".
      if (/^\d{3}(?: |$)/.test(line)) {
        const lines = this.#lines.splice(0);
        const reply = { code: Number(line.slice(0, 3)), text: lines.map((l) => l.slice(4)).join("\n") };
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter?.resolve(reply);
      }
      newline = this.#buffer.indexOf("\n");
    }
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }

  /** The next reply. */
  reply(): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Sends a command line and waits for its reply. */
  async command(line: string): Promise<Reply> {
    const reply = this.reply();
    this.#socket.write(`${line}\r\n`);
    return await reply;
  }

  /** Sends a command and fails unless the reply code is one of `expected`. */
  async expect(line: string, expected: readonly number[], what = line.split(" ")[0] ?? line): Promise<Reply> {
    const reply = await this.command(line);
    if (!expected.includes(reply.code)) {
      // 4xx replies are transient by definition (RFC 5321 §4.2.1); 5xx are permanent.
      throw smtpError(`SMTP ${what} was refused: ${reply.code} ${reply.text}`, reply.code < 500, {
        code: reply.code,
      });
    }
    return reply;
  }

  /** Upgrades the connection to TLS (after a 220 to STARTTLS). */
  async upgrade(host: string, rejectUnauthorized: boolean): Promise<void> {
    this.#detach();
    const plain = this.#socket;
    const secure = tlsConnect({ socket: plain, servername: host, rejectUnauthorized });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
    });
    this.#socket = secure;
    this.#attach();
  }

  close(): void {
    this.#detach();
    this.#socket.on("error", () => {});
    this.#socket.destroy();
  }
}

function open(options: SmtpOptions): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = options.secure
      ? tlsConnect({
          host: options.host,
          port: options.port,
          servername: options.host,
          rejectUnauthorized: options.rejectUnauthorized ?? true,
        })
      : netConnect({ host: options.host, port: options.port });
    socket.once(options.secure ? "secureConnect" : "connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", (error) =>
      reject(smtpError(`Cannot connect to SMTP server ${options.host}:${options.port}: ${error.message}`, true)),
    );
  });
}

async function authenticate(conn: SmtpConnection, options: SmtpOptions, capabilities: string): Promise<void> {
  const { username, password } = options;
  if (username === undefined || username === "") return;
  const mechanisms = /^AUTH[ =](.*)$/im.exec(capabilities)?.[1]?.toUpperCase().split(/\s+/) ?? [];
  const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
  if (mechanisms.includes("PLAIN") || !mechanisms.includes("LOGIN")) {
    await conn.expect(`AUTH PLAIN ${b64(`\0${username}\0${password ?? ""}`)}`, [235], "AUTH");
    return;
  }
  await conn.expect("AUTH LOGIN", [334], "AUTH");
  await conn.expect(b64(username), [334], "AUTH");
  await conn.expect(b64(password ?? ""), [235], "AUTH");
}

/** Sends one message; fails with EMAIL_SEND_FAILED (retryable for connection trouble and 4xx replies). */
export async function sendMail(
  options: SmtpOptions,
  message: MailMessage,
  signal?: AbortSignal,
): Promise<SendMailResult> {
  const from = mailbox(message.from);
  const recipients = [...message.to, ...(message.cc ?? []), ...(message.bcc ?? [])].map(mailbox);
  if (recipients.length === 0) throw new KilnError("INVALID_INPUT", "An email needs at least one recipient (to)");
  const messageId = message.messageId ?? `${randomUUID()}@${options.heloName ?? "kiln.local"}`;
  const body = formatMessage(message, messageId, new Date());
  let conn: SmtpConnection | undefined;
  let timer: NodeJS.Timeout | undefined;
  const abort = () => conn?.close();
  signal?.addEventListener("abort", abort, { once: true });
  const work = async (): Promise<SendMailResult> => {
    conn = new SmtpConnection(await open(options));
    const greeting = await conn.reply();
    if (greeting.code !== 220) throw smtpError(`SMTP server greeted with ${greeting.code} ${greeting.text}`, true);
    const helo = options.heloName ?? "kiln.local";
    let ehlo = await conn.expect(`EHLO ${helo}`, [250]);
    const offersTls = /^STARTTLS$/im.test(ehlo.text);
    if (!options.secure && options.starttls !== "never" && (offersTls || options.starttls === "always")) {
      if (!offersTls) throw smtpError("The SMTP server does not offer STARTTLS (starttls: always)", false);
      await conn.expect("STARTTLS", [220]);
      await conn.upgrade(options.host, options.rejectUnauthorized ?? true);
      ehlo = await conn.expect(`EHLO ${helo}`, [250]);
    }
    await authenticate(conn, options, ehlo.text);
    await conn.expect(`MAIL FROM:<${from}>`, [250], "MAIL FROM");
    const accepted: string[] = [];
    const rejected: string[] = [];
    for (const rcpt of recipients) {
      const reply = await conn.command(`RCPT TO:<${rcpt}>`);
      (reply.code === 250 || reply.code === 251 ? accepted : rejected).push(rcpt);
    }
    if (accepted.length === 0)
      throw smtpError(`The SMTP server refused every recipient (${rejected.join(", ")})`, false);
    await conn.expect("DATA", [354]);
    // Dot-stuffing: a line that starts with "." gets another one (RFC 5321 §4.5.2).
    const stuffed = body.replace(/^\./gm, "..").replace(/\r\n$/, "");
    const done = await conn.expect(`${stuffed}\r\n.`, [250], "DATA");
    await conn.command("QUIT").catch(() => undefined);
    return { messageId, accepted, rejected, response: `${done.code} ${done.text}` };
  };
  const pending = work();
  // The loser of the race below must not surface as an unhandled rejection.
  pending.catch(() => {});
  try {
    return await Promise.race([
      pending,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(smtpError(`The SMTP server did not answer within ${options.timeoutMs} ms`, true)),
          options.timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", abort);
    (conn as SmtpConnection | undefined)?.close();
  }
}
