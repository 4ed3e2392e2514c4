import type { LogLevel } from "./log-level.ts";

/** A log line to append. */
export interface LogEntryInput {
  readonly runId: string;
  readonly attempt: number;
  /** The lease the line was written under; the worker protocol refuses lines of other leases. */
  readonly leaseToken?: number;
  readonly stepName?: string | null;
  readonly level: LogLevel;
  readonly message: string;
  /** Epoch ms; defaults to the store clock. */
  readonly ts?: number;
}

/** A stored log line; `seq` orders the lines of a run. */
export interface LogEntry {
  readonly runId: string;
  readonly seq: number;
  readonly attempt: number;
  readonly stepName: string | null;
  readonly level: LogLevel;
  readonly message: string;
  readonly ts: number;
}
