import type { AuditStore } from "./audit-store.ts";
import type { PurgeFinishedRunsParams, PurgeResult } from "./sql-retention.ts";
import type { Run, RunType } from "../engine/run.ts";
import type { RunStatus } from "../engine/status.ts";
import type { Step } from "../engine/step.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import type { SendEventParams, SendEventResult } from "../engine/events.ts";
import type { Housekeeper } from "../engine/housekeeper.ts";
import type { LogEntry } from "../engine/log-entry.ts";
import type { StartRunParams, StartRunResult } from "../engine/start-run.ts";
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
 * The worker-side verbs are declared by EngineClient and housekeeping by Housekeeper (both in
 * engine/); the control plane (namespaces, tokens, secrets, deployments, workers) is in
 * control-store.ts; schedules are in schedule-store.ts.
 */
export interface Store extends EngineClient, Housekeeper, ControlStore, ScheduleStore {
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

  // ── Logs ────────────────────────────────────────────────────────────────────────────────────
  /** Log lines of a run in order, after `afterSeq` (exclusive). */
  listLogs(p: Readonly<{ runId: string; afterSeq?: number; limit?: number }>): Promise<LogEntry[]>;

  // ── Housekeeping ────────────────────────────────────────────────────────────────────────────
  /** Deletes finished run trees past their retention, with their steps, logs and waits. */
  purgeFinishedRuns(p: Readonly<PurgeFinishedRunsParams>): Promise<PurgeResult>;
  /** The earliest pending timer (parked run wake-up or delayed queued run), if any. */
  getNextWakeAt(p: Readonly<{ namespace?: string }>): Promise<number | null>;
  /**
   * Listens for runs reaching a terminal status: in-process at commit, and on PostgreSQL from
   * other processes through LISTEN/NOTIFY. A notification is a hint (re-read the run); `onResync`
   * says some may have been lost (the listening connection came back), so re-read what you await.
   */
  subscribeRunEnds(p: Readonly<SubscribeRunEndsParams>): Promise<() => Promise<void>>;
  /** Releases connections and file handles. */
  close(): Promise<void>;
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

/** Flow control attached to a queue. */
export interface QueueSettings {
  readonly namespace: string;
  readonly name: string;
  /** At most this many runs of the queue hold a lease at once (null: no limit). */
  readonly concurrencyLimit: number | null;
  /** At most this many runs with the same concurrency key hold a lease at once (null: no limit). */
  readonly keyConcurrencyLimit: number | null;
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
