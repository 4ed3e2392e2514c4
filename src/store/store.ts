import type { HandoffOffer } from "./local-handoff.ts";
import type { AuditStore } from "./audit-store.ts";
import type { PurgeFinishedRunsParams, PurgeResult } from "./sql-retention.ts";
import type { SerializedError } from "../errors.ts";
import type { RetryPolicy } from "../engine/retry-policy.ts";
import type { Lease, Progress, Run, RunType } from "../engine/run.ts";
import type { RunStatus, StepStatus } from "../engine/status.ts";
import type { Step, StepType } from "../engine/step.ts";
import type { ControlStore } from "./control-store.ts";
import type { WebhookStore } from "./webhook-store.ts";
import type { AccountStore } from "./account-store.ts";
import type { DeleteWorkflowParams, DeleteWorkflowResult } from "./workflow-registry.ts";
import type { ScheduleStore } from "./schedule-store.ts";

/**
 * The one persistence interface of Kiln. SQLite and PostgreSQL implement it and pass one contract
 * suite (store.contract.ts). Methods are verb-noun and take one readonly params object.
 *
 * Invariants every implementation keeps:
 * - Every method is one transaction: it happens whole or not at all.
 * - Worker writes carry a Lease; a write whose token is not the run's current `leaseToken` (or
 *   whose run holds no lease) is rejected with LEASE_LOST and changes nothing.
 * - A settled step (completed, failed, skipped, compensated) is never overwritten: a second
 *   record is rejected with STEP_ALREADY_RECORDED. Recording is exactly-once.
 * - Times come from the store's clock (epoch ms), so tests can control them.
 *
 * The control plane (namespaces, tokens, secrets, deployments, workers) is in control-store.ts;
 * schedules are in schedule-store.ts.
 */
export interface Store extends ControlStore, ScheduleStore {
  /** Which database this is, for logs and metrics. */
  readonly dialect: "sqlite" | "postgres";
  /** The audit log of state-changing API calls. */
  readonly audit: AuditStore;
  /** Incoming webhook endpoints, outgoing subscriptions and their delivery outbox (webhook-store.ts). */
  readonly webhooks: WebhookStore;
  /** Accounts (users with passwords) and their UI sessions (account-store.ts). */
  readonly accounts: AccountStore;
  /**
   * Deletes a workflow or one version. Refused with WORKFLOW_IN_USE while runs pinned to it are in
   * flight, unless `force`, which cancels them (and their children) in the same transaction.
   */
  deleteWorkflow(p: Readonly<DeleteWorkflowParams>): Promise<DeleteWorkflowResult>;

  // ── Runs (client side) ──────────────────────────────────────────────────────────────────────
  /** Creates a run, or returns the existing one for the same namespace + idempotency key. */
  startRun(p: Readonly<StartRunParams>): Promise<StartRunResult>;
  /** Creates many runs in one transaction (same idempotency rules per item). */
  startRuns(p: Readonly<{ runs: readonly StartRunParams[] }>): Promise<StartRunResult[]>;
  getRun(p: Readonly<{ namespace: string; id: string }>): Promise<Run | undefined>;
  listRuns(p: Readonly<ListRunsParams>): Promise<RunPage>;
  listSteps(p: Readonly<{ runId: string }>): Promise<Step[]>;
  /**
   * Requests cancellation of a run and of its non-terminal descendants. A run nobody holds is
   * settled at once: `cancelled`, or `cancelling` (claimable) when it has compensable completed
   * steps. A leased run becomes `cancelling`; its worker learns it from its next write or
   * heartbeat. A claim of a `cancelling` run with compensable completed steps makes it
   * `compensating`; it ends `compensated` (error RUN_CANCELLED) once they are undone. Waiting
   * steps are closed as `cancelled`. Cancelling a terminal run fails with INVALID_STATE_TRANSITION.
   */
  cancelRun(p: Readonly<{ namespace: string; id: string; reason?: string }>): Promise<Run>;
  /**
   * Puts a terminal run (failed, cancelled, timed_out, compensated) back in its queue as a new
   * attempt. With `fromStep`, that step and every later one (by seq) are forgotten, so they run
   * again; without it, failed steps are forgotten. Compensated steps, cancelled waits and
   * compensation records are forgotten too: what the saga undid runs again.
   */
  retryRun(p: Readonly<{ namespace: string; id: string; fromStep?: string }>): Promise<Run>;

  // ── Events ──────────────────────────────────────────────────────────────────────────────────
  /**
   * Sends an event. If a run waits for it (same namespace, name and key, or a waiter with no
   * key), the oldest waiter gets it at once (its step completes with the payload and the run is
   * woken); otherwise it is buffered until `retentionMs` elapses. Delivered exactly once.
   */
  sendEvent(p: Readonly<SendEventParams>): Promise<SendEventResult>;
  /** Events not yet expired, newest first: delivered ones with their run, and buffered ones. */
  listEvents(p: Readonly<ListEventsParams>): Promise<EventPage>;

  // ── Queues ──────────────────────────────────────────────────────────────────────────────────
  /** Creates or updates a queue's flow control. Runs can use a queue that was never set. */
  setQueue(p: Readonly<QueueSettings>): Promise<QueueSettings>;
  getQueue(p: Readonly<{ namespace: string; name: string }>): Promise<QueueSettings | undefined>;

  // ── Worker side (fenced) ────────────────────────────────────────────────────────────────────
  /**
   * Claims up to `limit` runs from the given queues, highest priority first, then oldest
   * `availableAt`. Claimable: queued/cancelling/compensating runs due now and not leased, and
   * leased runs whose lease expired (taken over: a task run's attempt is raised). Parked runs
   * whose timer is due are woken first. Each claim raises `leaseToken`. Queue and concurrency-key
   * limits are respected. Returns each run with its recorded steps (sorted by seq).
   */
  claimRuns(p: Readonly<ClaimRunsParams>): Promise<ClaimRunsResult>;
  /**
   * Registers an idle worker of this process to be handed runs as they start: the start's
   * transaction leases the run to it (one commit, no claim). Until the returned function is
   * called. In-process stores only; a remote engine client has none.
   */
  offerHandoff?(offer: HandoffOffer): () => void;
  /** Extends the given leases (heartbeat). Reports leases lost and runs asked to cancel. */
  extendLeases(p: Readonly<ExtendLeasesParams>): Promise<ExtendLeasesResult>;
  /** Records steps (batched). Per item: ok, or LEASE_LOST / STEP_ALREADY_RECORDED. */
  saveSteps(p: Readonly<{ steps: readonly SaveStepParams[] }>): Promise<WriteResult[]>;
  /**
   * Starts a child run for a parent's step, idempotently per parent + step name, and records the
   * parent's step as `waiting` on it. When the child ends, the parent's step settles with the
   * child's output or error and the parent is woken.
   */
  startChildRun(p: Readonly<StartChildRunParams>): Promise<WriteResult & { readonly childRunId?: string }>;
  /**
   * Waits for an event inside a run: consumes the oldest matching buffered event (the step
   * completes with its payload) or registers a waiter (the step is `waiting` until an event or
   * the timeout). Atomic with sendEvent: no event is lost or delivered twice.
   */
  awaitEvent(p: Readonly<AwaitEventParams>): Promise<WriteResult & { readonly step?: Step }>;
  /** Ends activations (batched): complete, fail, retry, park, release, cancel, compensate. */
  finishRuns(p: Readonly<{ items: readonly FinishRunParams[] }>): Promise<WriteResult[]>;
  /** Merges state keys (null deletes) and sets progress on leased runs (batched). */
  updateRuns(p: Readonly<{ items: readonly UpdateRunParams[] }>): Promise<WriteResult[]>;

  // ── Logs ────────────────────────────────────────────────────────────────────────────────────
  /**
   * Appends log lines. The store does not fence them; the worker protocol drops lines whose
   * lease token is not the run's latest before they get here.
   */
  appendLogs(p: Readonly<{ entries: readonly LogEntryInput[] }>): Promise<void>;
  /** Log lines of a run in order, after `afterSeq` (exclusive). */
  listLogs(p: Readonly<{ runId: string; afterSeq?: number; limit?: number }>): Promise<LogEntry[]>;

  // ── Housekeeping ────────────────────────────────────────────────────────────────────────────
  /**
   * Times out parked or queued runs past their deadline (`timed_out`, or `compensating` when they
   * have compensable completed steps; runs already cancelling or compensating are left to finish),
   * wakes parked runs whose timer is due, and deletes expired buffered events. Safe to call from
   * many processes at once.
   */
  sweep(p?: Readonly<{ limit?: number }>): Promise<SweepResult>;
  /** Deletes finished run trees past their retention, with their steps, logs and waits. */
  purgeFinishedRuns(p: Readonly<PurgeFinishedRunsParams>): Promise<PurgeResult>;
  /** The earliest pending timer (parked run wake-up or delayed queued run), if any. */
  getNextWakeAt(p: Readonly<{ namespace?: string }>): Promise<number | null>;
  /**
   * Listens for store notifications (runs became claimable). SQLite delivers them in-process;
   * PostgreSQL through LISTEN/NOTIFY, across processes. Returns the unsubscribe function.
   */
  subscribe(listener: (n: StoreNotification) => void): Promise<() => Promise<void>>;
  /**
   * Listens for runs reaching a terminal status: in-process at commit, and on PostgreSQL from
   * other processes through LISTEN/NOTIFY. A notification is a hint (re-read the run); `onResync`
   * says some may have been lost (the listening connection came back), so re-read what you await.
   */
  subscribeRunEnds(p: Readonly<SubscribeRunEndsParams>): Promise<() => Promise<void>>;
  /** Releases connections and file handles. */
  close(): Promise<void>;
}

/** Params of startRun. Times in epoch milliseconds. */
export interface StartRunParams {
  readonly namespace: string;
  readonly type: RunType;
  readonly name: string;
  readonly input?: unknown;
  readonly version?: string | null;
  /** Defaults to "default". */
  readonly queue?: string;
  /** Higher runs first. Defaults to 0. */
  readonly priority?: number;
  readonly concurrencyKey?: string | null;
  readonly idempotencyKey?: string | null;
  readonly retryPolicy?: RetryPolicy | null;
  /** The run times out this long after it is created. */
  readonly timeoutMs?: number | null;
  /** Delayed start: not claimable before this instant. */
  readonly availableAt?: number;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Internal: set by startChildRun. */
  readonly parentRunId?: string | null;
  readonly parentStepName?: string | null;
  readonly rootRunId?: string | null;
  /** Use this id instead of a fresh UUIDv7 (tests, imports). */
  readonly id?: string;
}

/** The run and whether this call created it (false: idempotency key matched an existing run). */
export interface StartRunResult {
  readonly run: Run;
  readonly created: boolean;
}

/** Filters of listRuns; results are newest first (by id) with cursor pagination. */
export interface ListRunsParams {
  readonly namespace: string;
  readonly status?: RunStatus | readonly RunStatus[];
  readonly name?: string;
  readonly type?: RunType;
  readonly parentRunId?: string;
  /** The run started with this idempotency key (at most one per namespace). */
  readonly idempotencyKey?: string;
  /** Created at or after this instant (ms since the epoch). */
  readonly createdAfter?: number;
  /** Created before this instant (ms since the epoch). */
  readonly createdBefore?: number;
  /** Default 50, at most 1000. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** One page of runs. */
export interface RunPage {
  readonly runs: Run[];
  readonly nextCursor: string | null;
}

/** Params of sendEvent. */
export interface SendEventParams {
  readonly namespace: string;
  readonly name: string;
  readonly key?: string | null;
  readonly payload?: unknown;
  /** How long an undelivered event is kept. Default 7 days. */
  readonly retentionMs?: number;
}

/** Filters of listEvents. */
export interface ListEventsParams {
  readonly namespace: string;
  readonly name?: string;
  /** Only events no run has received yet. */
  readonly buffered?: boolean;
  /** Default 50, at most 1000. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** An event as kept until it expires. */
export interface StoredEvent {
  readonly id: string;
  readonly name: string;
  readonly key: string | null;
  readonly payload: unknown;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** The run that received it; null while it is buffered. */
  readonly deliveredTo: string | null;
  readonly deliveredAt: number | null;
}

/** One page of events. */
export interface EventPage {
  readonly events: StoredEvent[];
  readonly nextCursor: string | null;
}

/** The event id and the run that received it (null: buffered). */
export interface SendEventResult {
  readonly eventId: string;
  readonly deliveredTo: string | null;
}

/** Flow control attached to a queue. */
export interface QueueSettings {
  readonly namespace: string;
  readonly name: string;
  /** At most this many runs of the queue hold a lease at once (null: no limit). */
  readonly concurrencyLimit: number | null;
  /** At most this many runs with the same concurrency key hold a lease at once (null: no limit). */
  readonly keyConcurrencyLimit: number | null;
}

/** Params of claimRuns. */
export interface ClaimRunsParams {
  readonly namespace: string;
  readonly queues: readonly string[];
  /** Only runs of these names (task kinds / workflows the worker can execute); omitted = any. */
  readonly names?: readonly string[];
  readonly owner: string;
  readonly limit: number;
  readonly leaseMs: number;
}

/** A claimed run with its recorded steps (sorted by seq). */
export interface ClaimedRun {
  readonly run: Run;
  readonly steps: Step[];
}

/** Claimed runs, and the earliest future timer so an idle worker knows when to look again. */
export interface ClaimRunsResult {
  readonly runs: ClaimedRun[];
  readonly nextWakeAt: number | null;
}

/** Params of extendLeases. */
export interface ExtendLeasesParams {
  readonly owner: string;
  readonly leaseMs: number;
  readonly leases: readonly Lease[];
}

/** Leases that could not be extended, and runs whose cancellation was requested. */
export interface ExtendLeasesResult {
  readonly lost: string[];
  readonly cancelRequested: string[];
}

/** Outcome of one fenced write. `cancelRequested`: the run was asked to cancel; stop soon. */
export type WriteResult =
  | { readonly ok: true; readonly cancelRequested: boolean }
  | { readonly ok: false; readonly error: SerializedError };

/**
 * Records one step. Inserts the step, or updates it while it is not settled. A `running` step
 * with `wakeAt` is a failed attempt waiting for its retry.
 */
export interface SaveStepParams extends Lease {
  readonly name: string;
  readonly seq: number;
  readonly type: StepType;
  readonly status: StepStatus;
  readonly output?: unknown;
  readonly error?: SerializedError | null;
  readonly attempt?: number;
  readonly wakeAt?: number | null;
  readonly compensable?: boolean;
  /**
   * A `compensation` step: the name of the step it undoes. Recorded `completed`, it marks that
   * step `compensated` in the same transaction.
   */
  readonly compensates?: string;
  readonly startedAt?: number;
}

/** Params of startChildRun: the parent's lease and step, and the child to start. */
export interface StartChildRunParams extends Lease {
  readonly stepName: string;
  readonly seq: number;
  readonly child: Omit<StartRunParams, "namespace" | "parentRunId" | "parentStepName" | "rootRunId" | "idempotencyKey">;
}

/** Params of awaitEvent. */
export interface AwaitEventParams extends Lease {
  readonly stepName: string;
  readonly seq: number;
  readonly eventName: string;
  readonly key?: string | null;
  /** The wait gives up at this instant (the step then fails with EVENT_TIMEOUT on replay). */
  readonly timeoutAt?: number | null;
}

/**
 * How an activation ends:
 * - `complete`: status completed with output.
 * - `fail` with `retryAt`: back to queued as attempt + 1 (failed steps forgotten).
 * - `fail` without `retryAt`: terminal; `compensate: true` moves it to `compensating` instead.
 * - `park`: sleeping or waiting until `wakeAt` (null: until a signal); if something woke it
 *   during the activation, it goes straight back to queued.
 * - `release`: give the lease back untouched (graceful shutdown); claimable at once.
 * - `cancelled`, `compensated`: terminal.
 * - `timed_out`: terminal, unless the run has completed steps with a compensation: then it goes
 *   `compensating` (the error kept: RUN_TIMEOUT) and ends `compensated` after compensation.
 * Waiting steps of a run that stops for good (cancelling, compensating, failed, cancelled,
 * compensated, timed_out) are closed as `cancelled`.
 */
export type FinishRunParams = Lease &
  (
    | { readonly outcome: "complete"; readonly output?: unknown }
    | {
        readonly outcome: "fail";
        readonly error: SerializedError;
        readonly retryAt?: number;
        readonly compensate?: boolean;
      }
    | { readonly outcome: "park"; readonly status: "sleeping" | "waiting"; readonly wakeAt: number | null }
    | { readonly outcome: "release" }
    | { readonly outcome: "cancelled"; readonly error?: SerializedError }
    | { readonly outcome: "compensated"; readonly error?: SerializedError }
    | { readonly outcome: "timed_out"; readonly error: SerializedError }
  );

/** Params of one updateRuns item. */
export interface UpdateRunParams extends Lease {
  /** Keys to set; a null value deletes the key. */
  readonly state?: Readonly<Record<string, string | null>>;
  readonly progress?: Progress;
}

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

/** Log levels, lowest first. */
export type LogLevel = "debug" | "info" | "notice" | "warning" | "error";

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

/** What sweep did. */
export interface SweepResult {
  /** Runs past their deadline: timed out, or compensating first. */
  readonly timedOut: number;
  readonly woken: number;
  readonly eventsDeleted: number;
}

/** A store notification: runs in this namespace and queue may be claimable now. */
export interface StoreNotification {
  readonly type: "runs-ready";
  readonly namespace: string;
  readonly queue: string;
}

/** Options every store factory accepts. */
export interface StoreOptions {
  /** The clock, epoch ms. Defaults to Date.now. */
  readonly clock?: () => number;
  /** Largest input/output/payload JSON accepted, in bytes. Default 1 MiB (1,048,576). */
  readonly maxPayloadBytes?: number;
}

/** A run-end notification: these runs reached a terminal status (re-read them for their state). */
export interface RunEndsNotification {
  readonly runIds: readonly string[];
}

/** Params of subscribeRunEnds. */
export interface SubscribeRunEndsParams {
  readonly onEnded: (n: RunEndsNotification) => void;
  /** Notifications may have been lost meanwhile (the listening connection was re-established). */
  readonly onResync?: () => void;
}
