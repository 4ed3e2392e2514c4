import { isTerminal, RUN_STATUSES, type RunStatus } from "../engine/status.ts";
import type { Run } from "../engine/run.ts";
import type { Store } from "../store/store.ts";
import type { LiveEvent, LiveEventType } from "./live-events.ts";

/** A live subscription: `done` resolves when the feed ended (its run is terminal, or stop()). */
export interface LiveSubscription {
  readonly done: Promise<void>;
  stop(): void;
}

/** What a run feed sends. */
export interface FollowRunParams {
  readonly namespace: string;
  readonly runId: string;
  /** Log lines after this seq (default 0: all). */
  readonly afterSeq?: number;
  /** Event types to send (default all). */
  readonly types?: ReadonlySet<LiveEventType>;
}

const ACTIVE: readonly RunStatus[] = RUN_STATUSES.filter((s) => !isTerminal(s));

/** One feed shared by every subscriber of a key: one poll loop, its events fanned out. */
interface SharedSource {
  readonly subscribers: Set<(batch: readonly LiveEvent[]) => void>;
  readonly ended: Set<() => void>;
  loop: LiveSubscription | undefined;
}

/** The events of one look at a run, in the order they are sent (terminal run last). */
interface RunLook {
  readonly events: LiveEvent[];
  readonly terminal: boolean;
  readonly lastSeq: number;
  readonly missing: boolean;
}

/**
 * What one subscriber of a run feed has already been sent, so that events seen twice (its own
 * first look and the shared feed's next one) are sent once.
 */
class RunFeedFilter {
  #afterSeq: number;
  #runSig: string | undefined;
  #progressSig: string | undefined;
  readonly #steps = new Map<string, string>();
  readonly #types: ReadonlySet<LiveEventType> | undefined;

  constructor(afterSeq: number, types: ReadonlySet<LiveEventType> | undefined) {
    this.#afterSeq = afterSeq;
    this.#types = types;
  }

  get afterSeq(): number {
    return this.#afterSeq;
  }

  /** Whether to send this event (and remembers it was sent). */
  accept(event: LiveEvent): boolean {
    const wants = this.#types === undefined || this.#types.has(event.type);
    switch (event.type) {
      case "run": {
        const sig = `${event.run.status}|${event.run.attempt}|${event.run.leaseToken}`;
        if (sig === this.#runSig) return false;
        this.#runSig = sig;
        return wants;
      }
      case "step": {
        const sig = `${event.step.status}|${event.step.attempt}|${event.step.finishedAt}|${event.step.wakeAt}`;
        if (this.#steps.get(event.step.name) === sig) return false;
        this.#steps.set(event.step.name, sig);
        return wants;
      }
      case "log":
        if (event.log.seq <= this.#afterSeq) return false;
        this.#afterSeq = event.log.seq;
        return wants;
      case "progress": {
        const sig = JSON.stringify(event.progress);
        if (sig === this.#progressSig) return false;
        this.#progressSig = sig;
        return wants;
      }
    }
  }
}

/**
 * Live updates sourced by polling the store, which works the same with any number of servers on
 * one PostgreSQL (no server-local state decides anything). A stream costs nothing while idle: each
 * namespace and each followed run has one shared feed, polled every `pollMs` however many clients
 * watch it, whose events are pushed to every subscriber (no timer, no query per connection; a
 * run subscriber reads the store once, for the state it starts from). `poke(runId)` makes the
 * feeds of a run look at once, so updates that pass through this server (remote workers' writes)
 * are streamed without waiting for the next poll.
 */
export class LiveHub {
  readonly #store: Store;
  readonly #pollMs: number;
  readonly #pokes = new Map<string, Set<() => void>>();
  readonly #namespacePokes = new Map<string, Set<() => void>>();
  readonly #feeds = new Set<LiveSubscription>();
  readonly #runSources = new Map<string, SharedSource>();
  readonly #namespaceSources = new Map<string, SharedSource>();
  /** Run ends pushed by the store (this process's commits, other processes' through NOTIFY). */
  #runEnds: Promise<(() => Promise<void>) | undefined> | undefined;
  #closed = false;

  constructor(store: Store, options: { pollMs?: number } = {}) {
    this.#store = store;
    this.#pollMs = options.pollMs ?? 250;
  }

  /** Makes the feeds of these runs (and of their namespace) poll now. */
  poke(runIds: Iterable<string>, namespace?: string): void {
    for (const id of runIds) for (const wake of this.#pokes.get(id) ?? []) wake();
    if (namespace !== undefined) for (const wake of this.#namespacePokes.get(namespace) ?? []) wake();
  }

  /** How many shared poll loops run (one per watched namespace and per followed run). */
  get pollLoops(): number {
    return this.#runSources.size + this.#namespaceSources.size;
  }

  /**
   * Follows one run: sends its current state (run, steps, logs after `afterSeq`) and then every
   * change; ends after the run is terminal and its last log lines were sent.
   */
  followRun(p: FollowRunParams, emit: (event: LiveEvent) => void): LiveSubscription {
    const filter = new RunFeedFilter(p.afterSeq ?? 0, p.types);
    const send = (events: readonly LiveEvent[]) => {
      for (const event of events) if (filter.accept(event)) emit(event);
    };
    const key = `${p.namespace}\u0000${p.runId}`;
    return this.#subscriber(async (onBatch, onEnd) => {
      // Joins a running feed before looking, so nothing written meanwhile is missed; what
      // arrives during the look waits, then goes through the filter (which drops what the look sent).
      const attachTo = async (source: SharedSource) => {
        let waiting: LiveEvent[] | null = [];
        const leave = this.#join(
          this.#runSources,
          key,
          source,
          (b) => (waiting ? waiting.push(...b) : onBatch(b)),
          onEnd,
        );
        const look = await this.#lookAtRun(p.namespace, p.runId, filter.afterSeq);
        onBatch(look.events);
        const queued = waiting;
        waiting = null;
        onBatch(queued);
        if (!look.terminal && !look.missing) return { ended: false, leave };
        leave();
        return { ended: true, leave: () => {} };
      };
      const running = this.#runSources.get(key);
      if (running) return attachTo(running);
      const first = await this.#lookAtRun(p.namespace, p.runId, filter.afterSeq);
      onBatch(first.events);
      if (first.terminal || first.missing) return { ended: true, leave: () => {} };
      // Another subscriber started the feed while this one looked.
      const appeared = this.#runSources.get(key);
      if (appeared) return attachTo(appeared);
      return { ended: false, leave: this.#startRunSource(key, p, first.lastSeq, onBatch, onEnd) };
    }, send);
  }

  /**
   * Follows a namespace's runs: a `run` event when a run appears or changes status, `progress`
   * when a running one reports progress. Starts from now (no initial snapshot); never ends.
   */
  followNamespace(
    p: { readonly namespace: string; readonly types?: ReadonlySet<LiveEventType> },
    emit: (event: LiveEvent) => void,
  ): LiveSubscription {
    const send = (events: readonly LiveEvent[]) => {
      for (const event of events) if (p.types === undefined || p.types.has(event.type)) emit(event);
    };
    return this.#subscriber(async (onBatch, onEnd) => {
      let source = this.#namespaceSources.get(p.namespace);
      if (!source) {
        const created: SharedSource = { subscribers: new Set(), ended: new Set(), loop: undefined };
        source = created;
        this.#namespaceSources.set(p.namespace, created);
        created.loop = this.#namespaceLoop(p.namespace, created);
        void created.loop.done.then(() => this.#endSource(this.#namespaceSources, p.namespace, created));
      }
      return { ended: false, leave: this.#join(this.#namespaceSources, p.namespace, source, onBatch, onEnd) };
    }, send);
  }

  /**
   * Pokes run feeds at their run's terminal commit, so a stream (and the CLI's `--wait` on it)
   * sees the end at once instead of at the next poll. Subscribed with the first run feed.
   */
  #listenForRunEnds(): void {
    if (this.#runEnds !== undefined || this.#closed) return;
    this.#runEnds = this.#store
      .subscribeRunEnds({
        onEnded: (n) => this.poke(n.runIds),
        onResync: () => this.poke([...this.#pokes.keys()]),
      })
      .catch(() => {
        this.#runEnds = undefined; // the store is unreachable: polls carry on, the next feed retries
        return undefined;
      });
  }

  /** Ends every feed. */
  close(): void {
    this.#closed = true;
    void this.#runEnds?.then((unsubscribe) => unsubscribe?.().catch(() => {}));
    this.#runEnds = undefined;
    for (const feed of [...this.#feeds]) feed.stop();
    for (const source of [...this.#runSources.values(), ...this.#namespaceSources.values()]) source.loop?.stop();
  }

  /** A subscription whose events come in batches from a shared source until it ends or stops. */
  #subscriber(
    attach: (
      onBatch: (batch: readonly LiveEvent[]) => void,
      onEnd: () => void,
    ) => Promise<{ ended: boolean; leave: () => void }>,
    send: (batch: readonly LiveEvent[]) => void,
  ): LiveSubscription {
    let stopped = false;
    let leave: (() => void) | undefined;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const end = () => {
      stopped = true;
      leave?.();
      this.#feeds.delete(sub);
      finish();
    };
    const sub: LiveSubscription = { done, stop: end };
    this.#feeds.add(sub);
    const onBatch = (batch: readonly LiveEvent[]) => {
      if (!stopped) send(batch);
    };
    attach(onBatch, end).then(
      (attached) => {
        leave = attached.leave;
        if (attached.ended || stopped) end();
      },
      () => end(),
    );
    return sub;
  }

  #join(
    sources: Map<string, SharedSource>,
    key: string,
    source: SharedSource,
    onBatch: (batch: readonly LiveEvent[]) => void,
    onEnd: () => void,
  ): () => void {
    source.subscribers.add(onBatch);
    source.ended.add(onEnd);
    return () => {
      source.subscribers.delete(onBatch);
      source.ended.delete(onEnd);
      if (source.subscribers.size > 0) return;
      // The last subscriber gone: the shared poll stops, and the next subscriber starts a new one.
      if (sources.get(key) === source) sources.delete(key);
      source.loop?.stop();
    };
  }

  #endSource(sources: Map<string, SharedSource>, key: string, source: SharedSource): void {
    if (sources.get(key) === source) sources.delete(key);
    for (const end of [...source.ended]) end();
  }

  #startRunSource(
    key: string,
    p: FollowRunParams,
    afterSeq: number,
    onBatch: (batch: readonly LiveEvent[]) => void,
    onEnd: () => void,
  ): () => void {
    const source: SharedSource = { subscribers: new Set(), ended: new Set(), loop: undefined };
    this.#listenForRunEnds();
    this.#runSources.set(key, source);
    const leave = this.#join(this.#runSources, key, source, onBatch, onEnd);
    // The shared feed's own memory: it fans out only what changed since its last look.
    const seen = new RunFeedFilter(afterSeq, undefined);
    source.loop = this.#loop(this.#pokes, p.runId, async () => {
      const look = await this.#lookAtRun(p.namespace, p.runId, seen.afterSeq);
      const fresh = look.events.filter((e) => seen.accept(e));
      if (fresh.length > 0) for (const deliver of [...source.subscribers]) deliver(fresh);
      return look.terminal || look.missing;
    });
    void source.loop.done.then(() => this.#endSource(this.#runSources, key, source));
    return leave;
  }

  /** Reads a run's state: the run, its steps, its logs after `afterSeq`, its progress. */
  async #lookAtRun(namespace: string, runId: string, afterSeq: number): Promise<RunLook> {
    const run = await this.#store.getRun({ namespace, id: runId });
    if (!run) return { events: [], terminal: false, lastSeq: afterSeq, missing: true };
    const terminal = isTerminal(run.status);
    const events: LiveEvent[] = [];
    if (!terminal) events.push({ type: "run", runId: run.id, status: run.status, run });
    for (const step of await this.#store.listSteps({ runId: run.id }))
      events.push({ type: "step", runId: run.id, step });
    let lastSeq = afterSeq;
    for (;;) {
      const logs = await this.#store.listLogs({ runId: run.id, afterSeq: lastSeq, limit: 1000 });
      for (const log of logs) events.push({ type: "log", runId: run.id, log });
      lastSeq = logs.at(-1)?.seq ?? lastSeq;
      if (logs.length < 1000) break;
    }
    if (run.progress !== null) events.push({ type: "progress", runId: run.id, progress: run.progress });
    // Terminal last, after the steps and logs that led to it.
    if (terminal) events.push({ type: "run", runId: run.id, status: run.status, run });
    return { events, terminal, lastSeq, missing: false };
  }

  /** The shared poll of a namespace's runs. */
  #namespaceLoop(namespace: string, source: SharedSource): LiveSubscription {
    let known: Map<string, { sig: string; progress: string; active: boolean }> | undefined;
    return this.#loop(this.#namespacePokes, namespace, async () => {
      const [recent, active] = await Promise.all([
        this.#store.listRuns({ namespace, limit: 50 }),
        this.#store.listRuns({ namespace, status: ACTIVE, limit: 500 }),
      ]);
      const seen = new Map<string, Run>();
      for (const r of [...recent.runs, ...active.runs]) seen.set(r.id, r);
      // Runs that were active and left both lists ended: read them once more.
      for (const [id, k] of known ?? []) {
        if (!k.active || seen.has(id)) continue;
        const run = await this.#store.getRun({ namespace, id });
        if (run) seen.set(id, run);
      }
      const next = new Map<string, { sig: string; progress: string; active: boolean }>();
      const events: LiveEvent[] = [];
      const runs = [...seen.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
      for (const run of runs) {
        const entry = {
          sig: `${run.status}|${run.attempt}`,
          progress: JSON.stringify(run.progress),
          active: !isTerminal(run.status),
        };
        next.set(run.id, entry);
        const before = known?.get(run.id);
        if (known === undefined) continue;
        if (before?.sig !== entry.sig) events.push({ type: "run", runId: run.id, status: run.status, run });
        if (run.progress !== null && before?.progress !== entry.progress) {
          events.push({ type: "progress", runId: run.id, progress: run.progress });
        }
      }
      known = next;
      if (events.length > 0) for (const deliver of [...source.subscribers]) deliver(events);
      return false;
    });
  }

  #loop(pokes: Map<string, Set<() => void>>, key: string, poll: () => Promise<boolean>): LiveSubscription {
    let stopped = false;
    let wake: (() => void) | null = null;
    let dirty = false;
    const poke = () => {
      dirty = true;
      wake?.();
    };
    let set = pokes.get(key);
    if (!set) pokes.set(key, (set = new Set()));
    set.add(poke);
    const run = async () => {
      try {
        while (!stopped) {
          dirty = false;
          let ended: boolean;
          try {
            ended = await poll();
          } catch {
            ended = false; // The store is briefly unreachable: keep following.
          }
          if (ended || stopped) break;
          if (dirty) continue;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, this.#pollMs);
            function done() {
              clearTimeout(timer);
              wake = null;
              resolve();
            }
            wake = done;
          });
        }
      } finally {
        set.delete(poke);
        if (set.size === 0 && pokes.get(key) === set) pokes.delete(key);
      }
    };
    return {
      stop: () => {
        stopped = true;
        wake?.();
      },
      done: Promise.resolve().then(run),
    };
  }
}
