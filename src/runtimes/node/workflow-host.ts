import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { format } from "node:util";
import { deserializeError, KilnError, serializeError } from "../../errors.ts";
import type { LogLevel } from "../../engine/log-level.ts";
import { type ActivationOutcome, WorkflowActivation } from "../../workflow/workflow-activation.ts";
import type { WorkflowFunction } from "../../workflow/workflow-context.ts";
import { isWorkflowDefinition, takeLastDefinition } from "../../workflow/define-workflow.ts";
import {
  type ActivateMessage,
  createLineWriter,
  type HostMessage,
  type LoadMessage,
  PROTOCOL_VERSION,
  type WorkerMessage,
} from "../protocol.ts";
import { createEngineProxy, PendingCalls } from "./engine-proxy.ts";
import { HostBatcher } from "./host-batcher.ts";
import { jsonSafe } from "../json-safe-outcome.ts";

interface Running {
  readonly controller: AbortController;
  readonly log: (level: LogLevel, text: string) => void;
}

const CONSOLE_LEVELS: readonly [keyof Console, LogLevel][] = [
  ["log", "info"],
  ["info", "info"],
  ["debug", "debug"],
  ["warn", "warning"],
  ["error", "error"],
];

/** Cache directories hosts created themselves: removed when the process exits. */
const ownedCacheDirs = new Set<string>();

/**
 * A fresh cache directory for deployed code, removed at process exit (the host exits when the
 * worker closes its stdin, also when the worker is killed), so hosts leave nothing in /tmp.
 */
function ownedCacheDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-host-"));
  if (ownedCacheDirs.size === 0) {
    process.once("exit", () => {
      for (const d of ownedCacheDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  ownedCacheDirs.add(dir);
  return dir;
}

/**
 * The Node workflow host: loads deployed code by content hash and runs activations with the
 * same WorkflowActivation as in-process workflows; its engine client is a proxy that forwards
 * every write to the worker. One instance per host process; `handle` takes each message.
 */
export class NodeWorkflowHost {
  readonly #send: (message: HostMessage) => void;
  readonly #modules = new Map<string, Promise<WorkflowFunction>>();
  readonly #loaded = new Map<string, WorkflowFunction>();
  readonly #running = new Map<number, Running>();
  readonly #calls = new PendingCalls();
  readonly #cacheDir: string;
  /**
   * One engine proxy and one batcher for all activations: writes made in the same turn by
   * different runs travel in one call (the worker routes each item by run id).
   */
  readonly client = createEngineProxy((method, params) => {
    const { id, reply } = this.#calls.open();
    this.#send({ type: "call", id, method, params });
    return reply;
  });
  readonly batcher = new HostBatcher(this.client);
  /** CPU use when the host last went from idle to busy (pong reports CPU since then). */
  #cpuStart: NodeJS.CpuUsage = process.cpuUsage();
  /** The worker's clock at the last message, and our monotonic time then. */
  #clockBase = { worker: Date.now(), local: performance.now() };
  #manualClock = false;

  constructor(send: (message: HostMessage) => void, cacheDir?: string, flushOutput?: () => void) {
    this.#send = send;
    // A batch of writes leaves at once: the next event-loop turn is a whole I/O round away.
    if (flushOutput) this.batcher.afterSend = flushOutput;
    this.#cacheDir = cacheDir ?? ownedCacheDir();
  }

  /**
   * Routes `console.*` of workflow code to the log of the run being activated when the host runs
   * only one; with several, which one printed is unknown, so the line goes to stderr (the
   * worker's log), as console output of in-process workflows does. (Tracking the caller with
   * AsyncLocalStorage costs a promise hook on every promise: a quarter of a host's CPU.)
   * `ctx.log` always reaches the right run.
   */
  captureConsole(): void {
    for (const [method, level] of CONSOLE_LEVELS) {
      const original = console[method] as (...args: unknown[]) => void;
      (console as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        const [only, ...others] = this.#running.values();
        if (only && others.length === 0) only.log(level, format(...args));
        else original.apply(console, args);
      };
    }
  }

  /** Announces the host to the worker. */
  ready(): void {
    this.#send({ type: "ready", runtime: "node", pid: process.pid, protocol: PROTOCOL_VERSION });
  }

  handle(message: WorkerMessage): void {
    switch (message.type) {
      case "load":
        void this.#load(message);
        return;
      case "activate":
        void this.#activate(message);
        return;
      case "reply":
        this.#syncClock(message.now);
        this.#calls.settle(
          message.id,
          message.ok,
          message.ok ? message.value : undefined,
          message.ok ? undefined : message.error,
        );
        return;
      case "abort":
        this.#running.get(message.id)?.controller.abort(deserializeError(message.reason));
        return;
      case "ping": {
        const usage = this.#running.size > 0 ? process.cpuUsage(this.#cpuStart) : { user: 0, system: 0 };
        this.#send({ type: "pong", id: message.id, cpuMs: (usage.user + usage.system) / 1000 });
        return;
      }
      case "shutdown":
        if (this.#running.size === 0) process.exit(0);
        return;
    }
  }

  #clock = (): number =>
    this.#manualClock
      ? this.#clockBase.worker
      : Math.floor(this.#clockBase.worker + (performance.now() - this.#clockBase.local));

  #syncClock(workerNow: number): void {
    this.#clockBase = { worker: workerNow, local: performance.now() };
  }

  async #load(message: LoadMessage): Promise<void> {
    try {
      let loading = this.#modules.get(message.hash);
      if (!loading) {
        loading = this.#import(message);
        loading.catch(() => this.#modules.delete(message.hash));
        this.#modules.set(message.hash, loading);
      }
      this.#loaded.set(message.hash, await loading);
      this.#send({ type: "loaded", id: message.id, ok: true });
    } catch (error) {
      const serialized = serializeError(error, "WORKFLOW_LOAD_FAILED");
      const failure =
        serialized.code === "WORKFLOW_LOAD_FAILED"
          ? serialized
          : { code: "WORKFLOW_LOAD_FAILED", message: `Loading ${message.filename} failed: ${serialized.message}` };
      this.#send({ type: "loaded", id: message.id, ok: false, error: { ...failure, retryable: false } });
    }
  }

  async #import(message: LoadMessage): Promise<WorkflowFunction> {
    mkdirSync(this.#cacheDir, { recursive: true });
    const file = join(this.#cacheDir, `${message.hash}.mjs`);
    writeFileSync(file, message.source);
    const url = `${pathToFileURL(join(message.directory, message.filename)).href}?kiln-code=${encodeURIComponent(file)}`;
    takeLastDefinition();
    const mod = (await import(url)) as Record<string, unknown>;
    const isWorkflow = (v: unknown) => typeof v === "function" || isWorkflowDefinition(v);
    // Default export, else a `workflow` export, else any exported or last-made defineWorkflow(…).
    const found =
      [mod.default, mod.workflow].find(isWorkflow) ??
      Object.values(mod).find(isWorkflowDefinition) ??
      takeLastDefinition();
    if (found === undefined) {
      throw new KilnError(
        "WORKFLOW_LOAD_FAILED",
        `${message.filename} defines no workflow: write \`async function workflow(input, ctx) { … }\`, export a default function, or use defineWorkflow(…)`,
        { retryable: false },
      );
    }
    return (isWorkflowDefinition(found) ? found.fn : found) as WorkflowFunction;
  }

  async #activate(message: ActivateMessage): Promise<void> {
    this.#manualClock = message.manualClock === true;
    this.#syncClock(message.now);
    const fn = this.#loaded.get(message.hash);
    const { run } = message.claimed;
    if (!fn) {
      const error = { code: "WORKFLOW_LOAD_FAILED", message: `Code ${message.hash} is not loaded in this host` };
      this.#send({ type: "done", id: message.id, outcome: { outcome: "abandoned", error }, reached: 0 });
      return;
    }
    const controller = new AbortController();
    const { client, batcher } = this;
    if (this.#running.size === 0) this.#cpuStart = process.cpuUsage();
    this.#running.set(message.id, {
      controller,
      log: (level, text) =>
        batcher.log({ runId: run.id, attempt: run.attempt, stepName: null, level, message: text, ts: this.#clock() }),
    });
    const activation = new WorkflowActivation(fn, message.claimed, {
      client,
      batcher,
      clock: this.#clock,
      signal: controller.signal,
      log: (level: LogLevel, text: string, stepName: string | null) =>
        batcher.log({ runId: run.id, attempt: run.attempt, stepName, level, message: text, ts: this.#clock() }),
      progress: (progress) =>
        void batcher.updateRun({ runId: run.id, leaseToken: run.leaseToken, progress }).catch(() => {}),
      ...(message.replayOnly ? { replayOnly: true } : {}),
    });
    let outcome: ActivationOutcome;
    try {
      outcome = await activation.run();
      // Writes still queued (logs, a sleep marked completed) leave before `done`: the worker
      // applies a host's messages in order, so they are recorded before the run is finished.
      batcher.sendNow();
    } catch (error) {
      outcome = { outcome: "fail", error: serializeError(error, "INTERNAL"), compensable: false };
    } finally {
      this.#running.delete(message.id);
    }
    this.#send({ type: "done", id: message.id, outcome: jsonSafe(outcome), reached: activation.reached });
  }
}

/** Wires a host to this process's stdio: protocol on stdin/stdout, user output to stderr. */
export function runHostOnStdio(
  makeHost: (send: (m: HostMessage) => void, flush: () => void) => NodeWorkflowHost,
): void {
  const stdout = process.stdout.write.bind(process.stdout);
  // Workflow code may print: its stdout goes to stderr so the protocol channel stays clean.
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  const writeLine = createLineWriter((text) => stdout(text));
  const host = makeHost(
    (m) => writeLine(`${JSON.stringify(m)}\n`),
    () => writeLine.flush(),
  );
  let buffered = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf("\n");
    while (newline !== -1) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
      if (line.trim() !== "") host.handle(JSON.parse(line) as WorkerMessage);
    }
  });
  process.stdin.on("end", () => process.exit(0));
  host.ready();
}
