/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "notice" | "warning" | "error";
