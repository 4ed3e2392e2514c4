/** The stored log levels, lowest first. The one list every schema uses. */
export const LOG_LEVELS = ["debug", "info", "notice", "warning", "error"] as const;

/** The level of a log line. */
export type LogLevel = (typeof LOG_LEVELS)[number];
