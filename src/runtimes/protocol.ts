/**
 * The line protocol between a worker and its workflow host processes (JS and Python speak the
 * same one). Deployed workflow code runs in a host; the host replays it with the same activation
 * logic as in-process workflows, and every store write it needs is a `call` that the worker
 * performs, fenced by the run's lease, and answers.
 *
 * Framing: one JSON object per line (UTF-8, `\n`), on the host's stdin (worker → host) and
 * stdout (host → worker). Either side may put many lines in one write. The host sends its user
 * code's output elsewhere so nothing else reaches the channel: the Node host routes `console.*`
 * to the run's log itself, the Python host prints to stderr, whose lines the worker copies to
 * the log of the run being activated (when only one is).
 *
 * Ids: each side numbers the requests it starts (positive integers, increasing, per process);
 * an answer carries the id of its request. Worker requests are `load`, `activate` and `ping`
 * (answered by `loaded`, `done`, `pong`); host requests are `call` (answered by `reply`). An
 * activation is named by the id of its `activate` message.
 *
 * Sequence of one activation:
 *
 * ```
 * host   → ready    {runtime, pid, protocol}                  (once, after start)
 * worker → load     {id, hash, source, filename, directory}   (once per code hash and host)
 * host   → loaded   {id, ok, error?}
 * worker → activate {id, hash, claimed, now, replayOnly?, manualClock?}
 * host   → call     {id, method, params, activation?}         (0..n: saveSteps, startChildRun, …)
 * worker → reply    {id, ok, value | error, now}
 * host   → done     {id, outcome, reached}
 * ```
 *
 * Concurrency: a host may run several activations at once (the Node host does) and batch their
 * writes in one `call`: every item carries its `runId`, the worker performs each with the lease
 * checks of that run's activation and answers per item, in order. Items of a run the host is not
 * (or no longer) activating get a LEASE_LOST result.
 *
 * Errors: a `reply` with `ok: false` carries a SerializedError; the host throws it as a
 * KilnError (the activation treats it as a store failure and gives the run back). A write the
 * fence rejects is not an error but a `WriteResult` with `ok: false` (lease lost). `loaded` with
 * `ok: false` means the code cannot run (WORKFLOW_LOAD_FAILED). Unknown message types are
 * ignored by both sides, so either side can add messages compatibly.
 *
 * Abort: `abort {id, reason}` tells the host to stop activation `id` (lease lost, cancel, run
 * timeout, shutdown); the worker decides the outcome itself and answers later calls of it with
 * LEASE_LOST. The host still sends `done`, which frees its slot.
 *
 * Liveness: while activations run, the worker sends `ping` when it has heard nothing for a
 * while; the host answers `pong {id, cpuMs}` with the CPU time used since it became busy (the
 * worker prefers /proc when it can read it). A host that stops answering, or whose activation
 * uses more CPU than the limit, is killed (see host-process.ts).
 */
import type { SerializedError } from "../errors.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { ActivationOutcome } from "../workflow/workflow-activation.ts";

/** The protocol version; a host announces it in `ready`. */
export const PROTOCOL_VERSION = 1;

/** The languages a host process runs. */
export type HostRuntime = "node" | "python";

/** The engine-client verbs a host may call (the writes of an activation). */
export const HOST_CALL_METHODS = ["saveSteps", "startChildRun", "awaitEvent", "updateRuns", "appendLogs"] as const;
export type HostCallMethod = (typeof HOST_CALL_METHODS)[number];

// ── Worker → host ───────────────────────────────────────────────────────────────────────────

/** Load deployed code (once per content hash and host); answered by `loaded`. */
export interface LoadMessage {
  readonly type: "load";
  readonly id: number;
  /** The content hash that names this code in later `activate` messages. */
  readonly hash: string;
  /** Runnable source: JavaScript (TypeScript is transpiled by the worker) or Python. */
  readonly source: string;
  /** A file name for stack traces (`<name>.mjs` / `<name>.py`). */
  readonly filename: string;
  /** The directory imports and packages resolve from. */
  readonly directory: string;
}

/** Run one activation of a run; answered by `done`. */
export interface ActivateMessage {
  readonly type: "activate";
  readonly id: number;
  readonly hash: string;
  readonly claimed: ClaimedRun;
  /** The worker's clock (epoch ms) when sent; the host's clock runs on from it. */
  readonly now: number;
  /** Determinism check: block at the first primitive missing from the history, execute nothing. */
  readonly replayOnly?: boolean;
  /**
   * The worker's clock is manual (tests): it moves only when a test advances it, so the host uses
   * the `now` of the latest message as is instead of running on from it.
   */
  readonly manualClock?: boolean;
}

/** The answer to a host `call`. */
export type ReplyMessage =
  | { readonly type: "reply"; readonly id: number; readonly ok: true; readonly value: unknown; readonly now: number }
  | {
      readonly type: "reply";
      readonly id: number;
      readonly ok: false;
      readonly error: SerializedError;
      readonly now: number;
    };

/** Stop an activation; the reason is a KilnError (RUN_CANCELLED, RUN_TIMEOUT, LEASE_LOST, …). */
export interface AbortMessage {
  readonly type: "abort";
  readonly id: number;
  readonly reason: SerializedError;
}

/** Liveness probe; answered by `pong`. */
export interface PingMessage {
  readonly type: "ping";
  readonly id: number;
}

/** Exit when idle (the worker kills the process if it does not). */
export interface ShutdownMessage {
  readonly type: "shutdown";
}

/** Everything a worker sends to a host. */
export type WorkerMessage = LoadMessage | ActivateMessage | ReplyMessage | AbortMessage | PingMessage | ShutdownMessage;

// ── Host → worker ───────────────────────────────────────────────────────────────────────────

/** The host started and reads messages. */
export interface ReadyMessage {
  readonly type: "ready";
  readonly runtime: HostRuntime;
  readonly pid: number;
  readonly protocol: number;
}

/** The answer to `load`. */
export type LoadedMessage =
  | { readonly type: "loaded"; readonly id: number; readonly ok: true }
  | { readonly type: "loaded"; readonly id: number; readonly ok: false; readonly error: SerializedError };

/**
 * Writes (or an event/child call) the worker performs, each fenced by its run's lease. A host
 * may batch the writes of several activations in one call: the worker routes every item by its
 * `runId` to the activation of that run, and answers per item in order.
 */
export interface CallMessage {
  readonly type: "call";
  readonly id: number;
  /** The activation that made the call, when there is one (informational: items carry runId). */
  readonly activation?: number;
  readonly method: HostCallMethod;
  /** The params of the EngineClient method of that name. */
  readonly params: unknown;
}

/** The activation ended; the worker finishes the run with this outcome. */
export interface DoneMessage {
  readonly type: "done";
  readonly id: number;
  readonly outcome: ActivationOutcome;
  /** How many primitives the code called (replay reports use it). */
  readonly reached: number;
}

/** The answer to `ping`. */
export interface PongMessage {
  readonly type: "pong";
  readonly id: number;
  /** CPU time (user + system) the host used since the current activation began. */
  readonly cpuMs: number;
}

/** Everything a host sends to a worker. */
export type HostMessage = ReadyMessage | LoadedMessage | CallMessage | DoneMessage | PongMessage;

/**
 * Coalesces the lines written in one event-loop turn into one write (one system call for the
 * replies and activations of many runs at once).
 */
export function createLineWriter(
  write: (text: string) => void,
  schedule: (flush: () => void) => void = setImmediate,
): LineWriter {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.length === 1 ? (pending[0] as string) : pending.join("");
    pending = [];
    write(text);
  };
  const writer = (line: string) => {
    pending.push(line);
    if (!scheduled) {
      scheduled = true;
      schedule(flush);
    }
  };
  return Object.assign(writer, { flush });
}

/** Writes a line (coalesced); `flush()` writes what is pending at once. */
export type LineWriter = ((line: string) => void) & { flush(): void };

/** Encodes one message as a protocol line. */
export function encodeMessage(message: WorkerMessage | HostMessage): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Splits a byte stream into protocol lines and parses them. A line that is not a JSON object
 * goes to `onNoise` (a host that printed to its stdout before redirecting it).
 */
export function createLineDecoder<T>(onMessage: (message: T) => void, onNoise: (line: string) => void) {
  let buffered = "";
  return (chunk: string): void => {
    buffered += chunk;
    let newline = buffered.indexOf("\n");
    while (newline !== -1) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
      if (line.trim() === "") continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        onNoise(line);
        continue;
      }
      if (parsed !== null && typeof parsed === "object" && typeof (parsed as { type?: unknown }).type === "string") {
        onMessage(parsed as T);
      } else onNoise(line);
    }
  };
}
