/**
 * Test helpers for exec tests: an in-memory TaskContext (the worker's contract, without a store),
 * task kinds from config-shaped data, and process-group inspection. Not used by production code.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { defineTaskKind } from "../../src/config/define-task-kind.ts";
import type { ResolvedTaskKind } from "../../src/config/resolved-config.ts";
import type { Progress, Run } from "../../src/engine/run.ts";
import type { Step } from "../../src/engine/step.ts";
import { KilnError } from "../../src/errors.ts";
import type { LogLevel } from "../../src/engine/log-level.ts";
import type { TaskContext, TaskSteps } from "../../src/workflow/task-context.ts";
import { runScript } from "../../src/exec/run-script.ts";
import type { ScriptResult } from "../../src/exec/script-result.ts";

/** The fixtures directory (real scripts). */
export const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

/** The absolute path of a fixture script. */
export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** A task kind from kiln.yaml-shaped data, with short defaults for tests. */
export function kind(raw: Record<string, unknown>, baseDir?: string): ResolvedTaskKind {
  return defineTaskKind(
    { kind: "test-kind", grace_period_seconds: 0.5, ...raw },
    baseDir === undefined ? {} : { baseDir },
  );
}

/** What survives between attempts of one run in memory: state and recorded steps. */
export interface MemoryRunStore {
  readonly state: Map<string, string>;
  readonly steps: Map<string, Step>;
  /** Events a wait-event would receive, by event name. */
  readonly events: Map<string, unknown>;
  /** Step names whose work ran (complete() calls), in order. */
  readonly completed: string[];
}

/** A fresh in-memory run store. */
export function memoryRunStore(): MemoryRunStore {
  return { state: new Map(), steps: new Map(), events: new Map(), completed: [] };
}

/** A TaskContext over memory: records logs, progress and heartbeats for assertions. */
export interface MemoryTaskContext extends TaskContext {
  readonly logs: { level: LogLevel; message: string }[];
  readonly progressReports: Progress[];
  heartbeats: number;
  readonly controller: AbortController;
  readonly store: MemoryRunStore;
}

function makeStep(runId: string, name: string, seq: number, patch: Partial<Step>): Step {
  return {
    runId,
    name,
    seq,
    type: "step",
    status: "completed",
    output: null,
    error: null,
    attempt: 1,
    wakeAt: null,
    childRunId: null,
    eventName: null,
    eventKey: null,
    compensable: false,
    startedAt: Date.now(),
    finishedAt: Date.now(),
    ...patch,
  };
}

/** Builds an in-memory TaskContext for one attempt of a run. */
export function memoryTaskContext(
  options: Readonly<{
    input?: unknown;
    attempt?: number;
    runId?: string;
    store?: MemoryRunStore;
    deadlineAt?: number | null;
    parentRunId?: string | null;
    failStateWrites?: boolean;
  }> = {},
): MemoryTaskContext {
  const store = options.store ?? memoryRunStore();
  const runId = options.runId ?? "0190d7a4-3c1e-7b5a-9f00-00000000abcd";
  const now = Date.now();
  const run: Run = {
    id: runId,
    namespace: "default",
    type: "task",
    name: "test-kind",
    version: null,
    queue: "default",
    priority: 0,
    concurrencyKey: null,
    status: "running",
    input: options.input ?? null,
    output: null,
    error: null,
    attempt: options.attempt ?? 1,
    retryPolicy: null,
    idempotencyKey: null,
    parentRunId: options.parentRunId ?? null,
    parentStepName: null,
    rootRunId: runId,
    leaseOwner: "test",
    leaseToken: 1,
    leaseExpiresAt: null,
    availableAt: null,
    deadlineAt: options.deadlineAt ?? null,
    state: Object.fromEntries(store.state),
    progress: null,
    metadata: {},
    createdAt: now,
    updatedAt: now,
    startedAt: now,
    finishedAt: null,
  };
  const steps: TaskSteps = {
    get: (name) => store.steps.get(name),
    complete: async (name, output) => {
      if (store.steps.has(name)) throw new KilnError("STEP_ALREADY_RECORDED", `Step ${name} is already recorded`);
      store.steps.set(name, makeStep(runId, name, store.steps.size, { output }));
      store.completed.push(name);
    },
    sleep: async (name, durationMs) => {
      const step = store.steps.get(name);
      if (step) return step.wakeAt !== null && step.wakeAt <= Date.now() ? "done" : "parked";
      if (durationMs <= 0) {
        store.steps.set(name, makeStep(runId, name, store.steps.size, { type: "sleep", wakeAt: Date.now() }));
        return "done";
      }
      store.steps.set(
        name,
        makeStep(runId, name, store.steps.size, { type: "sleep", status: "waiting", wakeAt: Date.now() + durationMs }),
      );
      return "parked";
    },
    waitForEvent: async (name, { event }) => {
      if (store.events.has(event)) {
        const payload = store.events.get(event);
        store.steps.set(
          name,
          makeStep(runId, name, store.steps.size, { type: "event", output: payload, eventName: event }),
        );
        return { status: "received", payload };
      }
      store.steps.set(
        name,
        makeStep(runId, name, store.steps.size, { type: "event", status: "waiting", eventName: event }),
      );
      return { status: "parked" };
    },
  };
  const controller = new AbortController();
  const ctx: MemoryTaskContext = {
    run,
    signal: controller.signal,
    deadlineAt: options.deadlineAt ?? null,
    logs: [],
    progressReports: [],
    heartbeats: 0,
    controller,
    store,
    log(level, message) {
      ctx.logs.push({ level, message });
    },
    progress(progress) {
      ctx.progressReports.push(progress);
    },
    async setState(key, value) {
      if (options.failStateWrites) throw new KilnError("LEASE_LOST", "The lease was lost");
      if (value === null) store.state.delete(key);
      else store.state.set(key, value);
    },
    heartbeat() {
      ctx.heartbeats++;
    },
    steps,
  };
  return ctx;
}

/** Live (non-zombie) processes of a process group, as `ps` sees them ("pid stat args"). */
export function psGroup(pgid: number): string[] {
  const out = execFileSync("ps", ["-eo", "pid=,pgid=,stat=,args="], { encoding: "utf8" });
  return out
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => Number(f[1]) === pgid && f[2] !== undefined && !f[2].startsWith("Z"))
    .map((f) => [f[0], f[2], ...f.slice(3)].join(" "));
}

/** Whether a pid is alive (not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    const out = execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" }).trim();
    return out !== "" && !out.startsWith("Z");
  } catch {
    return false;
  }
}

/** Options of running a script in a test. */
export interface RunInTestOptions {
  readonly input?: unknown;
  readonly attempt?: number;
  readonly store?: MemoryRunStore;
  readonly secrets?: Readonly<Record<string, string>>;
  readonly ctx?: MemoryTaskContext;
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  readonly deadlineAt?: number | null;
  readonly tempDir?: string;
  /** The task's directory (its config file's); default the process's working directory. */
  readonly taskDir?: string;
  /** A directory put first on the script's PATH (the worker's own `kiln`). */
  readonly binDir?: string;
}

/** Runs one attempt of a kind (kiln.yaml-shaped data) against an in-memory context. */
export async function runInTest(
  raw: Record<string, unknown>,
  options: RunInTestOptions = {},
): Promise<{ result: ScriptResult; ctx: MemoryTaskContext }> {
  const ctx =
    options.ctx ??
    memoryTaskContext({
      input: options.input,
      ...(options.attempt === undefined ? {} : { attempt: options.attempt }),
      ...(options.store === undefined ? {} : { store: options.store }),
      ...(options.deadlineAt === undefined ? {} : { deadlineAt: options.deadlineAt }),
    });
  const taskKind = kind(raw, options.taskDir);
  const result = await runScript(taskKind, {
    input: options.input ?? ctx.run.input,
    context: {
      runId: ctx.run.id,
      taskKind: taskKind.kind,
      attempt: ctx.run.attempt,
      maxRetries: taskKind.maxRetries,
      workflowRunId: ctx.run.parentRunId,
      workflowName: null,
      idempotencyKey: ctx.run.id,
      traceparent: null,
    },
    host: ctx,
    state: ctx.run.state,
    signal: ctx.signal,
    deadlineAt: ctx.deadlineAt,
    ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
    ...(options.baseEnv === undefined ? {} : { baseEnv: options.baseEnv }),
    ...(options.tempDir === undefined ? {} : { tempDir: options.tempDir }),
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
  });
  return { result, ctx };
}
