import type { HandoffOffer } from "./handoff.ts";
import type { ClaimRunsParams, ClaimRunsResult } from "./claim.ts";
import type { FinishRunParams } from "./finish.ts";
import type { ExtendLeasesParams, ExtendLeasesResult } from "./lease.ts";
import type { LogEntryInput } from "./log-entry.ts";
import type { Step } from "./step.ts";
import type { AwaitEventParams, SaveStepParams, StartChildRunParams, UpdateRunParams, WriteResult } from "./writes.ts";

/**
 * A store notification: runs in this namespace and queue may be claimable now (`runs-ready`), or
 * a run of theirs became due at `at` (`timer`: a retry's backoff, a durable sleep, an event wait's
 * timeout, a delayed start), so a waiter sleeping past `at` should wake by then.
 */
export type StoreNotification =
  | { readonly type: "runs-ready"; readonly namespace: string; readonly queue: string }
  | { readonly type: "timer"; readonly namespace: string; readonly queue: string; readonly at: number };

/**
 * The verbs a worker needs: claims, heartbeats and the fenced writes of its runs. Two
 * implementations pass the same contract: the store itself (in-process, `kiln dev`) and the HTTP
 * client of a remote server (`kiln worker --server URL`). Workers never hold database credentials.
 */
export interface EngineClient {
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
  /**
   * Appends log lines. The store does not fence them; the worker protocol drops lines whose
   * lease token is not the run's latest before they get here.
   */
  appendLogs(p: Readonly<{ entries: readonly LogEntryInput[] }>): Promise<void>;
  /**
   * Listens for notifications that runs became claimable. SQLite delivers them in-process;
   * PostgreSQL through LISTEN/NOTIFY, across processes. Returns the unsubscribe function.
   */
  subscribe(listener: (n: StoreNotification) => void): Promise<() => Promise<void>>;
}
