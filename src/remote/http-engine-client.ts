import { KilnError, serializeError } from "../errors.ts";
import type { RegisterWorkerParams, WorkerRegistration } from "../store/control-store.ts";
import type {
  AwaitEventParams,
  SaveStepParams,
  StartChildRunParams,
  UpdateRunParams,
  WriteResult,
} from "../engine/writes.ts";
import type { ClaimedRun, ClaimRunsParams, ClaimRunsResult } from "../engine/claim.ts";
import type { ExtendLeasesParams, ExtendLeasesResult } from "../engine/lease.ts";
import type { FinishRunParams } from "../engine/finish.ts";
import type { LogEntryInput } from "../engine/log-entry.ts";
import type { StoreNotification } from "../engine/engine-client.ts";
import type { Step } from "../engine/step.ts";
import { type CompactClaimedRun, expandClaimed } from "./claim-wire.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import { HttpTransport, type HttpTransportOptions } from "./http-transport.ts";
import type { WorkerLogger } from "../worker/worker.ts";

/** Options of HttpEngineClient; durations in ms. */
export interface HttpEngineClientOptions extends Omit<HttpTransportOptions, "onRetry"> {
  /** Long-poll of claimRuns (the server waits this long for claimable runs). Default 0. */
  readonly claimWaitMs?: number;
  /** Long-poll of the subscription (notifications that runs may be claimable). Default 25000. */
  readonly subscribeWaitMs?: number;
  /**
   * Claim the next runs in the same request as each finish (one round trip per batch instead of
   * two) while a worker loop runs. Worth it for a worker that claims only after its finishes are
   * recorded; it holds up to one batch of leased runs briefly. Default false.
   */
  readonly prefetchOnFinish?: boolean;
  /**
   * Keep the next batch claimed ahead while a worker loop drains a backlog: when a claim of the
   * loop comes back full and the loop claims often (at most `claimAheadWindowMs` apart), the next
   * batches are claimed at once in the background, so the server works on it while the worker runs
   * the current one (no lock-step claim round trip between batches). Runs claimed ahead that the
   * worker has not taken within `claimAheadHoldMs` go back to their queue. Default true.
   */
  readonly claimAhead?: boolean;
  /** How many of the loop's batches one claim ahead asks for (fewer, larger claims). Default 8. */
  readonly claimAheadBatches?: number;
  /** Longest gap between two claims of the loop for claiming ahead. Default 50. */
  readonly claimAheadWindowMs?: number;
  /** How long runs claimed ahead wait for the worker before they are given back. Default 1000. */
  readonly claimAheadHoldMs?: number;
  /** Heartbeat of the worker's registration (after register()). Default 10000. */
  readonly heartbeatIntervalMs?: number;
  readonly logger?: WorkerLogger;
  /**
   * Called when the server says a workflow was deployed while a claim waited: the worker's caches
   * of deployed names must be dropped (then the loop is told runs may be claimable).
   */
  readonly onDeployed?: () => void;
}

/**
 * The engine client of a remote worker (`kiln worker --server URL`): the EngineClient verbs over
 * the server's worker protocol (/v1/worker/*) with a worker token. Fenced writes are retried until
 * delivered, so a worker keeps executing through a server restart and records its results when the
 * server is back (the store's fencing makes repeats harmless; the server recognizes a repeat of a
 * committed write). `subscribe` long-polls the claim endpoint for notifications. It is no
 * Housekeeper: sweeping is the server's job.
 */
export class HttpEngineClient implements EngineClient {
  readonly #http: HttpTransport;
  readonly #claimWaitMs: number;
  readonly #subscribeWaitMs: number;
  readonly #heartbeatMs: number;
  readonly #prefetchOnFinish: boolean;
  readonly #logger: WorkerLogger | undefined;
  readonly #namespace: string | undefined;
  /** Queues and owner seen in claims, for the subscription's synthetic wake-ups. */
  #queues = new Set<string>();
  #owner = "kiln-worker";
  #claimNamespace: string | undefined;
  #registration: Omit<RegisterWorkerParams, "namespace"> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #lastRetryLog = 0;
  /** The last claim's parameters: finishes ask for the next runs with them (see finishRuns). */
  #lastClaim: Readonly<ClaimRunsParams> | undefined;
  /** Aborted by stopClaiming(): no claim is sent or awaited after it. */
  readonly #claimStop = new AbortController();
  /** Runs claimed ahead (or along with a finish), handed out by the next claimRuns. */
  #prefetched: { readonly claimed: ClaimedRun; readonly key: string; readonly at: number }[] = [];
  readonly #claimAhead: boolean;
  readonly #aheadBatches: number;
  readonly #aheadWindowMs: number;
  readonly #aheadHoldMs: number;
  /** The claim-ahead request in flight (its runs go to #prefetched), if any. */
  #ahead: Promise<void> | undefined;
  /** When the worker loop last asked for runs (claim-ahead only follows a loop that claims often). */
  #lastClaimAt = Number.NEGATIVE_INFINITY;
  /** Gives back runs claimed ahead that the worker did not take in time. */
  #holdTimer: NodeJS.Timeout | undefined;
  /** Outcomes sent by finishRuns and not yet answered. */
  #finishing = 0;
  /** Listeners of active subscriptions: a worker loop runs and claims prefetched runs when told. */
  readonly #listeners = new Set<(n: StoreNotification) => void>();

  readonly #onDeployed: (() => void) | undefined;

  constructor(options: HttpEngineClientOptions) {
    this.#onDeployed = options.onDeployed;
    this.#logger = options.logger;
    this.#namespace = options.namespace;
    this.#claimWaitMs = options.claimWaitMs ?? 0;
    this.#subscribeWaitMs = options.subscribeWaitMs ?? 25_000;
    this.#heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
    this.#prefetchOnFinish = options.prefetchOnFinish ?? false;
    this.#claimAhead = options.claimAhead ?? true;
    this.#aheadBatches = Math.max(1, options.claimAheadBatches ?? 8);
    this.#aheadWindowMs = options.claimAheadWindowMs ?? 50;
    this.#aheadHoldMs = options.claimAheadHoldMs ?? 1000;
    this.#http = new HttpTransport({
      ...options,
      onRetry: ({ path, attempt, delayMs, error }) => {
        // One line per few seconds while the server is away, not one per request.
        const now = Date.now();
        if (now - this.#lastRetryLog < 5000) return;
        this.#lastRetryLog = now;
        this.#logger?.warn(`Kiln server call ${path} failed (attempt ${attempt}), retrying in ${delayMs} ms: ${error}`);
      },
    });
  }

  /**
   * Stops claiming at once (SIGTERM): the long-poll claim in flight is aborted instead of waiting
   * for the server's answer, and every later claimRuns answers no runs. Writes for runs already
   * claimed go on, so they can finish within the shutdown timeout.
   */
  stopClaiming(): void {
    this.#claimStop.abort(new KilnError("WORKER_STOPPED", "The worker stopped claiming"));
  }

  async claimRuns(p: Readonly<ClaimRunsParams>): Promise<ClaimRunsResult> {
    if (this.#claimStop.signal.aborted) return { runs: [], nextWakeAt: null };
    for (const q of p.queues) this.#queues.add(q);
    this.#owner = p.owner;
    this.#claimNamespace = p.namespace;
    this.#lastClaim = p;
    const now = Date.now();
    const often = now - this.#lastClaimAt <= this.#aheadWindowMs;
    this.#lastClaimAt = now;
    let runs = await this.#takePrefetched(p);
    if (runs.length === 0 && this.#ahead !== undefined) {
      // The next batch is already being claimed: wait for it rather than ask a second time.
      await this.#ahead;
      runs = await this.#takePrefetched(p);
    }
    let nextWakeAt: number | null = null;
    if (runs.length === 0) {
      // The namespace travels as the request's namespace (Kiln-Namespace), which the token must allow.
      const { namespace, ...rest } = p;
      let result: CompactClaimResult;
      try {
        result = await this.#http.post<CompactClaimResult>(
          "/v1/worker/claim",
          { ...rest, waitMs: this.#claimWaitMs, compact: true },
          { retry: "few", extraTimeoutMs: this.#claimWaitMs, namespace, signal: this.#claimStop.signal },
        );
      } catch (error) {
        if (this.#claimStop.signal.aborted) return { runs: [], nextWakeAt: null };
        throw error;
      }
      runs = expandClaimed(result.runs, namespace, p.owner);
      nextWakeAt = result.nextWakeAt;
      if (result.deployed) this.#deployed(namespace);
    }
    // A full batch for a loop that claims often: a backlog drained faster than claims come back.
    if (often && runs.length > 0 && runs.length >= p.limit) this.#startClaimAhead(p);
    return { runs, nextWakeAt };
  }

  /**
   * Claims the next batches (`claimAheadBatches` of them) in the background while less than one
   * batch waits in #prefetched (one request at a time: fewer, larger claims, and a batch waiting
   * while the next ones are claimed), unless a worker loop no longer runs.
   */
  #startClaimAhead(p: Readonly<ClaimRunsParams>): void {
    if (!this.#claimAhead || this.#ahead !== undefined || this.#listeners.size === 0) return;
    if (this.#prefetched.length >= p.limit || this.#http.closed || this.#claimStop.signal.aborted) return;
    // Backpressure: the worker's outcomes are not being recorded as fast as it runs them.
    if (this.#finishing > this.#aheadBatches * p.limit) return;
    const { namespace, ...rest } = p;
    const key = claimKey(p);
    const limit = Math.min(this.#aheadBatches * p.limit, MAX_CLAIM);
    this.#ahead = this.#http
      .post<CompactClaimResult>(
        "/v1/worker/claim",
        { ...rest, limit, waitMs: 0, compact: true },
        { retry: "few", namespace },
      )
      .then(
        // Waits for a give-back too, so unsubscribe leaves nothing leased (see #stash).
        (result) => this.#stash(expandClaimed(result.runs, namespace, p.owner), key, namespace, p.queues),
        () => {
          // The worker's own next claim asks again (and reports the trouble).
        },
      )
      .catch((error: unknown) => {
        this.#logger?.warn(`Could not keep the runs claimed ahead: ${serializeError(error).message}`);
      })
      .finally(() => {
        this.#ahead = undefined;
      });
  }

  /** Keeps runs claimed ahead for the next claimRuns and wakes the worker loop for them. */
  async #stash(runs: readonly ClaimedRun[], key: string, namespace: string, queues: readonly string[]): Promise<void> {
    if (runs.length === 0) return;
    if (this.#listeners.size === 0) {
      // The worker loop stopped meanwhile: nobody will take them.
      await this.#release(runs);
      return;
    }
    const at = Date.now();
    for (const claimed of runs) this.#prefetched.push({ claimed, key, at });
    this.#armHoldTimer();
    // The worker may have found nothing to claim meanwhile and gone idle: wake it for these.
    const note = { type: "runs-ready" as const, namespace, queue: queues[0] ?? "default" };
    for (const listener of this.#listeners) listener(note);
  }

  /** Gives back, after the hold time, the runs claimed ahead that are still waiting then. */
  #armHoldTimer(): void {
    if (this.#holdTimer !== undefined) return;
    this.#holdTimer = setTimeout(() => {
      this.#holdTimer = undefined;
      const cutoff = Date.now() - this.#aheadHoldMs;
      const expired = this.#prefetched.filter((e) => e.at <= cutoff);
      if (expired.length > 0) {
        this.#prefetched = this.#prefetched.filter((e) => e.at > cutoff);
        void this.#release(expired.map((e) => e.claimed));
      }
      if (this.#prefetched.length > 0) this.#armHoldTimer();
    }, this.#aheadHoldMs);
    this.#holdTimer.unref();
  }

  /** Prefetched runs for these claim parameters (up to the limit); stale or foreign ones are given back. */
  async #takePrefetched(p: Readonly<ClaimRunsParams>): Promise<ClaimedRun[]> {
    if (this.#prefetched.length === 0) return [];
    const key = claimKey(p);
    const fresh = Date.now() - p.leaseMs / 3;
    const usable = this.#prefetched.filter((e) => e.key === key && e.at >= fresh);
    const unusable = this.#prefetched.filter((e) => e.key !== key || e.at < fresh);
    const taken = usable.slice(0, p.limit);
    this.#prefetched = usable.slice(p.limit);
    if (unusable.length > 0) await this.#release(unusable.map((e) => e.claimed));
    return taken.map((e) => e.claimed);
  }

  /** Gives runs back to their queue (claimable at once by any worker). */
  async #release(runs: readonly ClaimedRun[]): Promise<void> {
    if (runs.length === 0) return;
    const items = runs.map((c) => ({ runId: c.run.id, leaseToken: c.run.leaseToken, outcome: "release" as const }));
    try {
      const namespace = runs[0]?.run.namespace;
      await this.#http.post(
        "/v1/worker/finish",
        { items },
        { retry: "few", ...(namespace === undefined ? {} : { namespace }) },
      );
    } catch (error) {
      this.#logger?.warn(
        `Could not give back prefetched runs (their leases will expire): ${serializeError(error).message}`,
      );
    }
  }

  async extendLeases(p: Readonly<ExtendLeasesParams>): Promise<ExtendLeasesResult> {
    return this.#http.post("/v1/worker/heartbeat", p, { retry: "few" });
  }

  async saveSteps(p: Readonly<{ steps: readonly SaveStepParams[] }>): Promise<WriteResult[]> {
    return inChunks(p.steps, MAX_WRITE_ITEMS, async (steps) => {
      const body = { steps };
      return (await this.#http.post<{ results: WriteResult[] }>("/v1/worker/steps", body, { retry: "until-delivered" }))
        .results;
    });
  }

  async startChildRun(p: Readonly<StartChildRunParams>): Promise<WriteResult & { readonly childRunId?: string }> {
    return this.#http.post("/v1/worker/child", p, { retry: "until-delivered" });
  }

  async awaitEvent(p: Readonly<AwaitEventParams>): Promise<WriteResult & { readonly step?: Step }> {
    return this.#http.post("/v1/worker/await-event", p, { retry: "until-delivered" });
  }

  /**
   * Ends activations. With `prefetchOnFinish`, while a worker loop runs (subscribed), the request
   * also claims as many new runs as it frees slots (at most one claim's worth) and the worker's
   * next claimRuns gets them without a request.
   */
  async finishRuns(p: Readonly<{ items: readonly FinishRunParams[] }>): Promise<WriteResult[]> {
    // Outcomes pile up while a finish is slow: the claims ahead wait until they are recorded.
    this.#finishing += p.items.length;
    try {
      return await inChunks(p.items, MAX_WRITE_ITEMS, (items) => this.#finishChunk(items));
    } finally {
      this.#finishing -= p.items.length;
    }
  }

  async #finishChunk(items: readonly FinishRunParams[]): Promise<WriteResult[]> {
    const p = { items };
    const next = this.#lastClaim;
    // At most one claim's worth waits in the buffer: prefetching more would hold runs another
    // worker could execute now.
    const prefetch =
      this.#prefetchOnFinish &&
      this.#listeners.size > 0 &&
      next !== undefined &&
      this.#prefetched.length === 0 &&
      this.#ahead === undefined &&
      p.items.every((i) => i.outcome !== "release");
    const claim =
      prefetch && next
        ? {
            owner: next.owner,
            queues: next.queues,
            limit: Math.min(p.items.length, next.limit),
            leaseMs: next.leaseMs,
            ...(next.names === undefined ? {} : { names: next.names }),
            compact: true,
          }
        : undefined;
    const result = await this.#http.post<{ results: WriteResult[]; claimed?: CompactClaimResult }>(
      "/v1/worker/finish",
      claim === undefined ? p : { ...p, claim },
      { retry: "until-delivered", ...(prefetch && next ? { namespace: next.namespace } : {}) },
    );
    if (result.claimed && next) {
      const runs = expandClaimed(result.claimed.runs, next.namespace, next.owner);
      await this.#stash(runs, claimKey(next), next.namespace, next.queues);
    }
    return result.results;
  }

  async updateRuns(p: Readonly<{ items: readonly UpdateRunParams[] }>): Promise<WriteResult[]> {
    return inChunks(p.items, MAX_WRITE_ITEMS, async (items) => {
      const body = { items };
      return (
        await this.#http.post<{ results: WriteResult[] }>("/v1/worker/update", body, { retry: "until-delivered" })
      ).results;
    });
  }

  async appendLogs(p: Readonly<{ entries: readonly LogEntryInput[] }>): Promise<void> {
    await inChunks(p.entries, MAX_LOG_ENTRIES, async (entries) => {
      await this.#http.post("/v1/worker/logs", { entries }, { retry: "until-delivered" });
      return [];
    });
  }

  /** A deploy happened: drop the caches of deployed names, then wake the worker loops to claim. */
  #deployed(namespace: string | undefined): void {
    this.#onDeployed?.();
    const ns = namespace ?? this.#namespace;
    if (ns === undefined) return;
    for (const listener of this.#listeners) {
      for (const queue of this.#queues) listener({ type: "runs-ready", namespace: ns, queue });
    }
  }

  /**
   * Delivers "runs may be claimable" notifications by long-polling the claim endpoint with
   * `limit: 0`. After a lost connection comes back, every queue seen in claims is announced, so
   * the worker claims what arrived meanwhile.
   */
  async subscribe(listener: (n: StoreNotification) => void): Promise<() => Promise<void>> {
    const stop = new AbortController();
    this.#listeners.add(listener);
    const loop = (async () => {
      let failures = 0;
      while (!stop.signal.aborted && !this.#http.closed) {
        try {
          const namespace = this.#claimNamespace ?? this.#namespace;
          const result = await this.#http.post<{ ready: { namespace: string; queue: string }[]; deployed?: boolean }>(
            "/v1/worker/claim",
            { owner: this.#owner, limit: 0, waitMs: this.#subscribeWaitMs },
            {
              retry: "few",
              extraTimeoutMs: this.#subscribeWaitMs,
              signal: stop.signal,
              ...(namespace === undefined ? {} : { namespace }),
            },
          );
          if (failures > 0 && namespace !== undefined) {
            for (const queue of this.#queues) listener({ type: "runs-ready", namespace, queue });
          }
          failures = 0;
          if (result.deployed) this.#deployed(namespace);
          for (const r of result.ready) listener({ type: "runs-ready", namespace: r.namespace, queue: r.queue });
        } catch (error) {
          if (stop.signal.aborted || this.#http.closed) break;
          failures++;
          this.#logger?.warn(`Waiting for runs failed: ${serializeError(error).message}`);
          await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** Math.min(failures, 6))));
        }
      }
    })();
    return async () => {
      stop.abort();
      await loop;
      // The worker stopped claiming: runs prefetched for it go back to their queue (a claim ahead
      // still in flight gives its runs back when it lands, see #stash).
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) {
        await this.#ahead;
        clearTimeout(this.#holdTimer);
        this.#holdTimer = undefined;
        await this.#release(this.#prefetched.splice(0).map((e) => e.claimed));
      }
    };
  }

  /**
   * Registers this worker (name, version, queues, task kinds with their settings) and keeps its
   * registration alive with a heartbeat, also while it holds no lease.
   */
  async register(p: Readonly<Omit<RegisterWorkerParams, "namespace">>): Promise<WorkerRegistration> {
    this.#registration = p;
    this.#owner = p.name;
    const registration = await this.#http.post<WorkerRegistration>("/v1/worker/register", p, { retry: "few" });
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => void this.#beat(), this.#heartbeatMs);
    this.#heartbeat.unref();
    return registration;
  }

  async #beat(): Promise<void> {
    const name = this.#registration?.name;
    if (name === undefined) return;
    try {
      await this.#http.post("/v1/worker/heartbeat", { owner: name, leaseMs: 1000, leases: [] }, { retry: "few" });
    } catch (error) {
      this.#logger?.warn(`Worker heartbeat failed: ${serializeError(error).message}`);
    }
  }

  /** Removes the registration (graceful shutdown) and stops its heartbeat. */
  async unregister(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    const name = this.#registration?.name;
    this.#registration = undefined;
    if (name !== undefined) await this.#http.post("/v1/worker/unregister", { name }, { retry: "few" });
  }

  /** Decrypted values of vault secrets of the namespace (missing names left out), for one run. */
  async getSecrets(names: readonly string[]): Promise<Record<string, string>> {
    if (names.length === 0) return {};
    return (
      await this.#http.post<{ values: Record<string, string> }>("/v1/worker/secrets", { names }, { retry: "few" })
    ).values;
  }

  /** A run input with its sealed secret fields opened by the server (which holds the master key). */
  async unsealInput(input: unknown): Promise<unknown> {
    return (await this.#http.post<{ input: unknown }>("/v1/worker/unseal", { input }, { retry: "few" })).input;
  }

  /** Stops heartbeats and aborts requests in flight and pending retries. Call after Worker.stop(). */
  close(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    this.#http.close();
  }
}

/** The largest claim the server accepts. */
const MAX_CLAIM = 1000;
/** The most items (steps, finishes, updates) and log lines the server accepts in one request. */
const MAX_WRITE_ITEMS = 10_000;
const MAX_LOG_ENTRIES = 100_000;

/**
 * Calls `call` on consecutive chunks of at most `size` items, one after the other (a run's writes
 * keep their order), and concatenates the results. No call for no items.
 */
async function inChunks<T, R>(
  items: readonly T[],
  size: number,
  call: (chunk: readonly T[]) => Promise<R[]>,
): Promise<R[]> {
  if (items.length <= size) return items.length === 0 ? [] : call(items);
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await call(items.slice(i, i + size))));
  return results;
}

/** A claim's answer with runs in compact form (see claim-wire.ts). */
interface CompactClaimResult {
  readonly runs: CompactClaimedRun[];
  readonly nextWakeAt: number | null;
  readonly deployed?: boolean;
}

/** Which claims prefetched runs may serve: same namespace, owner, queues and names. */
function claimKey(p: Readonly<ClaimRunsParams>): string {
  return JSON.stringify([
    p.namespace,
    p.owner,
    [...p.queues].sort(),
    p.names === undefined ? null : [...p.names].sort(),
  ]);
}
