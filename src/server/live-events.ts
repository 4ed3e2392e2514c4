import type { Progress, Run } from "../engine/run.ts";
import type { RunStatus } from "../engine/status.ts";
import type { Step } from "../engine/step.ts";
import type { LogEntry } from "../engine/log-entry.ts";

/**
 * The one event schema of live updates, sent on SSE (`event: <type>`, `data: <json>`) and
 * WebSocket (one JSON text message each): a run changed status, a step was recorded, a log line
 * was written, progress was reported.
 */
export type LiveEvent =
  | { readonly type: "run"; readonly runId: string; readonly status: RunStatus; readonly run: Run }
  | { readonly type: "step"; readonly runId: string; readonly step: Step }
  | { readonly type: "log"; readonly runId: string; readonly log: LogEntry }
  | { readonly type: "progress"; readonly runId: string; readonly progress: Progress };

/** The event types, for `?types=` filters. */
export const LIVE_EVENT_TYPES = ["run", "step", "log", "progress"] as const;
export type LiveEventType = (typeof LIVE_EVENT_TYPES)[number];
