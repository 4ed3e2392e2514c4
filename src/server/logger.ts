import { pino, type Logger } from "pino";

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
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? "kiln",
    level: options.level ?? process.env.KILN_LOG_LEVEL ?? "info",
    redact: { paths: REDACTED_PATHS, censor: "***" },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that writes nothing (tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
