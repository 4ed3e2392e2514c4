import type { LogLevel } from "../engine/log-level.ts";

// Names that scripts written for other engines use (Forge, Python's logging, syslog): each maps
// onto the stored level it means, so `level: "warn"` is a warning, never an info line.
const ALIASES: Readonly<Record<string, LogLevel>> = Object.freeze({
  debug: "debug",
  trace: "debug",
  info: "info",
  notice: "notice",
  warn: "warning",
  warning: "warning",
  error: "error",
  err: "error",
  fatal: "error",
  critical: "error",
});

/** The stored level a level name means (case-insensitive, aliases such as `warn` included), or null. */
export function toLogLevel(name: string): LogLevel | null {
  const lower = name.trim().toLowerCase();
  return Object.hasOwn(ALIASES, lower) ? (ALIASES[lower] as LogLevel) : null;
}

/** The level names accepted by toLogLevel, for error messages. */
export const ACCEPTED_LOG_LEVELS: readonly string[] = Object.freeze(Object.keys(ALIASES));
