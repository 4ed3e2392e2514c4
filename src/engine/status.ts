/** Run and step statuses (ARCHITECTURE.md "Statuses") and the pure helpers over them. */

/** Every status a run can have. */
export const RUN_STATUSES = [
  "queued",
  "running",
  "sleeping",
  "waiting",
  "completed",
  "failed",
  "cancelling",
  "cancelled",
  "compensating",
  "compensated",
  "timed_out",
] as const;

/** The status of a run. */
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Every status a step can have. */
export const STEP_STATUSES = [
  "running",
  "waiting",
  "completed",
  "failed",
  "skipped",
  "compensated",
  "cancelled",
] as const;

/**
 * The status of a step. `waiting` marks a durable wait (sleep, event, child) not yet resolved;
 * `cancelled` a wait closed because its run was cancelled, timed out or compensated;
 * `compensated` a completed step whose compensation has run.
 */
export type StepStatus = (typeof STEP_STATUSES)[number];

/** The run statuses that never change again (the store's SQL lists are built from this). */
export const TERMINAL_RUN_STATUSES = ["completed", "failed", "cancelled", "compensated", "timed_out"] as const;

/** The step statuses that are final for the step's current attempt (a retry may forget them). */
export const SETTLED_STEP_STATUSES = ["completed", "failed", "skipped", "compensated", "cancelled"] as const;

const TERMINAL_RUN: ReadonlySet<RunStatus> = new Set<RunStatus>(TERMINAL_RUN_STATUSES);

/** Whether a run in this status will never change again. */
export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_RUN.has(status);
}

/** Whether a run in this status is parked: it holds no lease and waits for a timer or a signal. */
export function isParked(status: RunStatus): boolean {
  return status === "sleeping" || status === "waiting";
}

/** Whether a worker may hold a lease on a run in this status. */
export function isLeasable(status: RunStatus): boolean {
  return status === "running" || status === "cancelling" || status === "compensating";
}

/** Whether a value is a known run status. */
export function isRunStatus(value: unknown): value is RunStatus {
  return typeof value === "string" && (RUN_STATUSES as readonly string[]).includes(value);
}

/** Whether a step in this status is settled (its result will be replayed as is). */
export function isStepSettled(status: StepStatus): boolean {
  return (
    status === "completed" ||
    status === "failed" ||
    status === "skipped" ||
    status === "compensated" ||
    status === "cancelled"
  );
}
