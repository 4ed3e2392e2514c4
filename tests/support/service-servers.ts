import { spawn } from "node:child_process";
import { chmodSync, existsSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

/**
 * Real local servers for the tests of the nodes that talk to mail and object stores: an SMTP
 * server (nodemailer's smtp-server), a throwaway dovecot IMAP server, and s3rver (S3 on disk).
 */

/** A free TCP port on loopback (the kernel's pick; closed again before it is handed out). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A message the SMTP test server accepted. */
export interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  readonly user: string | null;
  readonly password: string | null;
  readonly secure: boolean;
  readonly raw: string;
  readonly parsed: ParsedMail;
}

/** A running SMTP test server. */
export interface SmtpTestServer {
  readonly port: number;
  readonly messages: ReceivedMail[];
  close(): Promise<void>;
}

/**
 * An SMTP server on loopback that accepts every message, except recipients at `nowhere.test`
 * (550). It offers STARTTLS with smtp-server's built-in self-signed certificate, or speaks TLS
 * from the first byte with `secure: true`; AUTH PLAIN/LOGIN is accepted for user `kiln`, password
 * `mail-pass-123`. `starttls: false` hides STARTTLS.
 */
export async function startSmtpTestServer(
  options: { secure?: boolean; starttls?: boolean } = {},
): Promise<SmtpTestServer> {
  const messages: ReceivedMail[] = [];
  const logins = new Map<string, { user: string; password: string }>();
  const server = new SMTPServer({
    secure: options.secure ?? false,
    // Without STARTTLS (examples, CLI tests) clients send AUTH in the clear on loopback.
    hideSTARTTLS: options.starttls === false,
    authOptional: true,
    disabledCommands: [],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, session, callback) {
      if (auth.username !== "kiln" || auth.password !== "mail-pass-123") {
        return callback(new Error("Invalid username or password"));
      }
      logins.set(session.id, { user: auth.username ?? "", password: auth.password ?? "" });
      callback(null, { user: auth.username });
    },
    onRcptTo(address, _session, callback) {
      if (address.address.endsWith("@nowhere.test")) {
        return callback(Object.assign(new Error("No such user"), { responseCode: 550 }));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        simpleParser(raw).then(
          (parsed) => {
            const login = logins.get(session.id);
            messages.push({
              from: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address,
              to: session.envelope.rcptTo.map((r) => r.address),
              user: login?.user ?? null,
              password: login?.password ?? null,
              secure: session.secure,
              raw,
              parsed,
            });
            callback(null, "queued as 42");
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { port, messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A running dovecot IMAP server. */
export interface ImapTestServer {
  readonly port: number;
  readonly user: string;
  readonly password: string;
  close(): Promise<void>;
}

/**
 * A throwaway dovecot: its own config, maildir and state in a temp dir, IMAP on a loopback port,
 * plaintext login for one user (default `ada`). As root, mail is owned by `nobody` (dovecot refuses uid 0).
 */
export async function startImapTestServer(options: { user?: string } = {}): Promise<ImapTestServer> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-dovecot-"));
  chmodSync(dir, 0o755);
  for (const sub of ["run", "state", "mail"]) mkdirSync(join(dir, sub));
  const root = process.getuid?.() === 0;
  if (root) chownSync(join(dir, "mail"), 65534, 65534);
  const user = options.user ?? "ada";
  const password = "imap-pass-456";
  writeFileSync(join(dir, "users"), `${user}:{PLAIN}${password}::::::\n`);
  const port = await freePort();
  const whoami = root ? "uid=65534 gid=65534" : `uid=${process.getuid?.()} gid=${process.getgid?.()}`;
  const me = process.env.USER ?? "root";
  writeFileSync(
    join(dir, "dovecot.conf"),
    `base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:${dir}/mail/%u
first_valid_uid = 1
default_internal_user = ${root ? "dovecot" : me}
default_login_user = ${root ? "dovenull" : me}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = ${whoami} home=${dir}/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`,
  );
  if (!existsSync("/usr/sbin/dovecot")) {
    throw new Error("The IMAP tests run dovecot: apt-get install -y dovecot-imapd (.ci/run does)");
  }
  const child = spawn("/usr/sbin/dovecot", ["-F", "-c", join(dir, "dovecot.conf")], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // Ready when the port accepts connections.
  for (let i = 0; ; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => resolve(socket.end() !== undefined));
      socket.once("error", () => resolve(false));
    });
    if (open) break;
    if (child.exitCode !== null || i > 200) {
      let log = "";
      try {
        log = readFileSync(join(dir, "dovecot.log"), "utf8");
      } catch {}
      throw new Error(`dovecot did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    user,
    password,
    close: async () => {
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A running S3-compatible test server. */
export interface S3TestServer {
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Where the server keeps the objects on disk. */
  readonly directory: string;
  close(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}

/**
 * s3rver (an S3 API over a directory, path-style, with signature checks) on a loopback port with
 * one bucket; its fixed credentials are S3RVER / S3RVER.
 */
export async function startS3TestServer(bucket = "kiln-test"): Promise<S3TestServer> {
  const directory = mkdtempSync(join(tmpdir(), "kiln-s3-"));
  const port = await freePort();
  const { default: S3rver } = (await import("s3rver" as string)) as {
    default: new (options: Record<string, unknown>) => S3rverInstance;
  };
  const server = new S3rver({
    port,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
    directory,
    close: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
