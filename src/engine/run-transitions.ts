import { RUN_STATUSES, type RunStatus } from "./status.ts";

/**
 * The run state machine, decided here and nowhere else: which status a run may leave on which
 * event, and the status it goes to. The SQL store does the writes; its status lists (claimable,
 * parked, retryable, timed-out) and target statuses are generated from this table.
 *
 * Facts the store learns from other rows are folded into the event's name, so each (status,
 * event) pair has one answer: `…_compensable` means the run has completed steps that declared a
 * compensation; `cancel_leased` that a worker holds the run.
 */
export const RUN_EVENTS = [
  /** A worker claims the run (a due parked run, or a leased one whose lease expired, taken over). */
  "claim",
  /** A claim of a run with compensable completed steps: a cancelling run starts compensating. */
  "claim_compensable",
  /** A lease ran out: the run keeps its status and any worker may claim it again. */
  "lease_expiry",
  /** finishRuns `complete`. */
  "finish_complete",
  /** finishRuns `fail` without `retryAt`: the run fails for good. */
  "finish_fail",
  /** finishRuns `fail` with `compensate`: the saga undoes the completed steps first. */
  "finish_fail_compensate",
  /** finishRuns `fail` with `retryAt`: a new attempt, queued for its backoff. */
  "finish_retry",
  /** finishRuns `park` as `sleeping` (a timer), nothing woke it meanwhile. */
  "finish_park_sleeping",
  /** finishRuns `park` as `waiting` (a signal), nothing woke it meanwhile. */
  "finish_park_waiting",
  /** finishRuns `park` when its wake time passed or a signal arrived during the activation. */
  "finish_park_woken",
  /** finishRuns `release`: the lease is given back untouched (graceful shutdown). */
  "finish_release",
  /** finishRuns `cancelled`. */
  "finish_cancelled",
  /** finishRuns `compensated`: the saga's compensations have run. */
  "finish_compensated",
  /** finishRuns `timed_out` (the worker saw the deadline), nothing to undo. */
  "finish_timed_out",
  /** finishRuns `timed_out` with compensable completed steps: compensating first. */
  "finish_timed_out_compensable",
  /** cancelRun of a run no worker holds, nothing to undo: cancelled at once. */
  "cancel",
  /** cancelRun of a run no worker holds with compensable completed steps: claimable to compensate. */
  "cancel_compensable",
  /** cancelRun of a run a worker holds: the worker learns it from its next write or heartbeat. */
  "cancel_leased",
  /** retryRun: a finished run goes back to its queue as a new attempt. */
  "retry",
  /** sweep: the run passed its deadline, nothing to undo. */
  "timeout",
  /** sweep: the run passed its deadline with compensable completed steps. */
  "timeout_compensable",
  /** A parked run's timer is due, or the signal it waits for arrived. */
  "wake",
] as const;

/** Something that may change a run's status. */
export type RunEvent = (typeof RUN_EVENTS)[number];

type Moves = Readonly<Partial<Record<RunStatus, RunStatus>>>;

const LEASED = ["running", "cancelling", "compensating"] as const;
const UNLEASED_LIVE = ["queued", "running", "sleeping", "waiting", "compensating"] as const;

/** The same target from each of these statuses. */
function all(from: readonly RunStatus[], to: RunStatus): Moves {
  return Object.fromEntries(from.map((s) => [s, to]));
}

/** Each status stays as it is (the event does not change it). */
function same(from: readonly RunStatus[]): Moves {
  return Object.fromEntries(from.map((s) => [s, s]));
}

/**
 * A worker winding a run down keeps it there: a park or release of a cancelling run leaves it
 * claimable to go on cancelling, of a compensating one to go on compensating.
 */
const WINDING = same(["cancelling", "compensating"]);

/** Every allowed move; a status missing under an event is refused. */
const TRANSITIONS: Readonly<Record<RunEvent, Moves>> = {
  claim: { ...all(["queued", "running", "sleeping", "waiting"], "running"), ...WINDING },
  claim_compensable: {
    ...all(["queued", "running", "sleeping", "waiting"], "running"),
    cancelling: "compensating",
    compensating: "compensating",
  },
  lease_expiry: same(LEASED),
  finish_complete: all(LEASED, "completed"),
  finish_fail: all(LEASED, "failed"),
  finish_fail_compensate: all(LEASED, "compensating"),
  finish_retry: all(LEASED, "queued"),
  finish_park_sleeping: { running: "sleeping", ...WINDING },
  finish_park_waiting: { running: "waiting", ...WINDING },
  finish_park_woken: { running: "queued", ...WINDING },
  finish_release: { running: "queued", ...WINDING },
  finish_cancelled: all(LEASED, "cancelled"),
  finish_compensated: all(LEASED, "compensated"),
  finish_timed_out: all(LEASED, "timed_out"),
  finish_timed_out_compensable: all(LEASED, "compensating"),
  cancel: { ...all(UNLEASED_LIVE, "cancelled"), cancelling: "cancelling" },
  cancel_compensable: { ...all(UNLEASED_LIVE, "cancelling"), cancelling: "cancelling" },
  cancel_leased: all(LEASED, "cancelling"),
  retry: all(["failed", "cancelled", "timed_out", "compensated"], "queued"),
  timeout: all(["queued", "running", "sleeping", "waiting"], "timed_out"),
  timeout_compensable: all(["queued", "running", "sleeping", "waiting"], "compensating"),
  wake: all(["sleeping", "waiting"], "queued"),
};

/** The status a run in `from` goes to on `event`, or undefined when the event is refused there. */
export function nextRunStatus(from: RunStatus, event: RunEvent): RunStatus | undefined {
  return TRANSITIONS[event][from];
}

/** The statuses `event` is allowed from (only those going to `to`, when given), in RUN_STATUSES order. */
export function statusesAllowing(event: RunEvent, to?: RunStatus): RunStatus[] {
  return RUN_STATUSES.filter((s) => {
    const next = TRANSITIONS[event][s];
    return next !== undefined && (to === undefined || next === to);
  });
}

/** The statuses `event` is refused from, in RUN_STATUSES order. */
export function statusesRefusing(event: RunEvent): RunStatus[] {
  return RUN_STATUSES.filter((s) => TRANSITIONS[event][s] === undefined);
}

/** Parked statuses: the run waits for a timer or a signal, holding no lease (`wake` leaves them). */
export const PARKED_RUN_STATUSES = statusesAllowing("wake");

/**
 * The statuses a claim takes a run from without waking it first (the claim index's statuses).
 * `running` is not among them: a running run is held, and a claim takes it only once its lease
 * expired.
 */
export const READY_RUN_STATUSES = statusesAllowing("claim").filter(
  (s) => s !== "running" && !PARKED_RUN_STATUSES.includes(s),
);
