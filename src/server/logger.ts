import { createRequire } from "node:module";
import { pino, type Logger } from "pino";
import type { PinoPretty as PrettyFactory } from "pino-pretty";

/** Paths pino blanks in every log line: credentials never reach the logs. */
export const REDACTED_PATHS = [
  "authorization",
  "token",
  "plaintext",
  "value",
  "secret",
  "*.authorization",
  "*.token",
  "*.plaintext",
  "*.value",
  "*.secret",
  "req.headers.authorization",
  "req.headers.cookie",
];

/**
 * The server's structured JSON logger (pino): one line per event, `msg` plus fields. Request logs
 * carry method, route, status, duration and the token id — never a token, secret or query string.
 */
export function createLogger(options: Readonly<CreateLoggerOptions> = {}): Logger {
  const settings = {
    name: options.name ?? "kiln",
    level: options.level ?? process.env.KILN_LOG_LEVEL ?? "info",
    redact: { paths: REDACTED_PATHS, censor: "***" },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.format !== "pretty") return pino(settings);
  // In this thread and synchronous (not a pino transport's worker): the compiled package ships
  // no transport entry point, and a line must be out before the process exits on a signal.
  // Loaded only when asked for: JSON logging (servers, CI) does not pay for it at start-up.
  const { PinoPretty } = createRequire(import.meta.url)("pino-pretty") as { PinoPretty: typeof PrettyFactory };
  const pretty = PinoPretty({
    colorize: options.color ?? false,
    sync: true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,name",
    singleLine: true,
  });
  return pino(settings, pretty);
}

/** How a process logs: pino's JSON lines (the default), or pretty lines for a person at a terminal. */
export interface CreateLoggerOptions {
  readonly level?: string;
  readonly name?: string;
  /** `pretty`: one human line per event (time, level, message, fields); `json`: pino's lines. */
  readonly format?: "json" | "pretty";
  /** Colour pretty lines (the caller decides: a terminal, NO_COLOR, FORCE_COLOR). */
  readonly color?: boolean;
}

/** A logger that writes nothing (tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
