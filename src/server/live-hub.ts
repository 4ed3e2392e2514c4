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

/**
 * Live updates sourced by polling the store, which works the same with any number of servers on
 * one PostgreSQL (no server-local state decides anything): each feed reads only what it shows, by
 * index, every `pollMs`. `poke(runId)` makes the feeds of a run look at once, so updates that pass
 * through this server (remote workers' writes) are streamed without waiting for the next poll.
 */
export class LiveHub {
  readonly #store: Store;
  readonly #pollMs: number;
  readonly #pokes = new Map<string, Set<() => void>>();
  readonly #namespacePokes = new Map<string, Set<() => void>>();
  readonly #feeds = new Set<LiveSubscription>();

  constructor(store: Store, options: { pollMs?: number } = {}) {
    this.#store = store;
    this.#pollMs = options.pollMs ?? 250;
  }

  /** Makes the feeds of these runs (and of their namespace) poll now. */
  poke(runIds: Iterable<string>, namespace?: string): void {
    for (const id of runIds) for (const wake of this.#pokes.get(id) ?? []) wake();
    if (namespace !== undefined) for (const wake of this.#namespacePokes.get(namespace) ?? []) wake();
  }

  /**
   * Follows one run: sends its current state (run, steps, logs after `afterSeq`) and then every
   * change; ends after the run is terminal and its last log lines were sent.
   */
  followRun(p: FollowRunParams, emit: (event: LiveEvent) => void): LiveSubscription {
    const wants = (t: LiveEventType) => p.types === undefined || p.types.has(t);
    let afterSeq = p.afterSeq ?? 0;
    let runSig: string | undefined;
    let progressSig: string | undefined;
    const steps = new Map<string, string>();
    return this.#loop(this.#pokes, p.runId, async () => {
      const run = await this.#store.getRun({ namespace: p.namespace, id: p.runId });
      if (!run) return true;
      const terminal = isTerminal(run.status);
      const sig = `${run.status}|${run.attempt}|${run.leaseToken}`;
      const runChanged = sig !== runSig;
      runSig = sig;
      if (runChanged && !terminal && wants("run")) emit({ type: "run", runId: run.id, status: run.status, run });
      if (wants("step")) {
        for (const step of await this.#store.listSteps({ runId: run.id })) {
          const s = `${step.status}|${step.attempt}|${step.finishedAt}|${step.wakeAt}`;
          if (steps.get(step.name) === s) continue;
          steps.set(step.name, s);
          emit({ type: "step", runId: run.id, step });
        }
      }
      if (wants("log")) {
        for (;;) {
          const logs = await this.#store.listLogs({ runId: run.id, afterSeq, limit: 1000 });
          for (const log of logs) emit({ type: "log", runId: run.id, log });
          afterSeq = logs.at(-1)?.seq ?? afterSeq;
          if (logs.length < 1000) break;
        }
      }
      const pSig = JSON.stringify(run.progress);
      if (run.progress !== null && pSig !== progressSig && wants("progress")) {
        emit({ type: "progress", runId: run.id, progress: run.progress });
      }
      progressSig = pSig;
      // Terminal last, after the steps and logs that led to it.
      if (runChanged && terminal && wants("run")) emit({ type: "run", runId: run.id, status: run.status, run });
      return terminal;
    });
  }

  /**
   * Follows a namespace's runs: a `run` event when a run appears or changes status, `progress`
   * when a running one reports progress. Starts from now (no initial snapshot); never ends.
   */
  followNamespace(
    p: { readonly namespace: string; readonly types?: ReadonlySet<LiveEventType> },
    emit: (event: LiveEvent) => void,
  ): LiveSubscription {
    const wants = (t: LiveEventType) => p.types === undefined || p.types.has(t);
    let known: Map<string, { sig: string; progress: string; active: boolean }> | undefined;
    return this.#loop(this.#namespacePokes, p.namespace, async () => {
      const [recent, active] = await Promise.all([
        this.#store.listRuns({ namespace: p.namespace, limit: 50 }),
        this.#store.listRuns({ namespace: p.namespace, status: ACTIVE, limit: 500 }),
      ]);
      const seen = new Map<string, Run>();
      for (const r of [...recent.runs, ...active.runs]) seen.set(r.id, r);
      // Runs that were active and left both lists ended: read them once more.
      for (const [id, k] of known ?? []) {
        if (!k.active || seen.has(id)) continue;
        const run = await this.#store.getRun({ namespace: p.namespace, id });
        if (run) seen.set(id, run);
      }
      const next = new Map<string, { sig: string; progress: string; active: boolean }>();
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
        if (before?.sig !== entry.sig && wants("run")) emit({ type: "run", runId: run.id, status: run.status, run });
        if (run.progress !== null && before?.progress !== entry.progress && wants("progress")) {
          emit({ type: "progress", runId: run.id, progress: run.progress });
        }
      }
      known = next;
      return false;
    });
  }

  /** Ends every feed. */
  close(): void {
    for (const feed of [...this.#feeds]) feed.stop();
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
        this.#feeds.delete(sub);
      }
    };
    const sub: LiveSubscription = {
      stop: () => {
        stopped = true;
        wake?.();
      },
      done: Promise.resolve().then(run),
    };
    this.#feeds.add(sub);
    return sub;
  }
}
