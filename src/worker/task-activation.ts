import { KilnError, serializeError } from "../errors.ts";
import type { Progress } from "../engine/run.ts";
import type { Step } from "../engine/step.ts";
import type { ClaimedRun, LogLevel } from "../store/store.ts";
import type { EngineClient } from "./engine-client.ts";
import { RunParked, type TaskContext, type TaskHandler, type TaskSteps } from "./task-context.ts";
import type { ActivationOutcome } from "./workflow-activation.ts";
import type { WriteBatcher } from "./write-batcher.ts";

/** What the worker gives a task activation. */
export interface TaskActivationDeps {
  readonly client: EngineClient;
  readonly batcher: WriteBatcher;
  readonly clock: () => number;
  readonly signal: AbortSignal;
  readonly log: (level: LogLevel, message: string, stepName: string | null) => void;
  readonly progress: (progress: Progress) => void;
}

/**
 * Runs one attempt (or one activation, after a durable sleep) of a task run through its handler,
 * and maps what happened to an activation outcome.
 */
export async function runTaskActivation(
  handler: TaskHandler,
  claimed: ClaimedRun,
  deps: TaskActivationDeps,
): Promise<ActivationOutcome> {
  const { run } = claimed;
  const history = new Map<string, Step>(claimed.steps.map((s) => [s.name, s]));
  let nextSeq = claimed.steps.reduce((max, s) => Math.max(max, s.seq + 1), 0);
  const blocks: { status: "sleeping" | "waiting"; wakeAt: number | null }[] = [];
  let lost: ActivationOutcome | null = null;

  const fenced = async (write: Promise<{ ok: boolean; error?: unknown; cancelRequested?: boolean }>) => {
    const result = await write;
    if (!result.ok) {
      const error = serializeError((result as { error: unknown }).error, "LEASE_LOST");
      lost = { outcome: "abandoned", error };
      throw new KilnError("LEASE_LOST", error.message);
    }
  };

  const steps: TaskSteps = {
    get: (name) => history.get(name),
    complete: async (name, output) => {
      const seq = nextSeq++;
      await fenced(
        deps.batcher.saveStep({
          runId: run.id,
          leaseToken: run.leaseToken,
          name,
          seq,
          type: "step",
          status: "completed",
          output: output ?? null,
          startedAt: deps.clock(),
        }),
      );
      history.set(name, syntheticStep(run.id, name, seq, "completed", output, deps.clock()));
    },
    sleep: async (name, durationMs) => {
      const now = deps.clock();
      const recorded = history.get(name);
      if (recorded) {
        if ((recorded.wakeAt ?? 0) <= now) return "done";
        blocks.push({ status: "sleeping", wakeAt: recorded.wakeAt });
        return "parked";
      }
      if (durationMs <= 0) return "done";
      const wakeAt = now + durationMs;
      await fenced(
        deps.batcher.saveStep({
          runId: run.id,
          leaseToken: run.leaseToken,
          name,
          seq: nextSeq++,
          type: "sleep",
          status: "waiting",
          wakeAt,
          startedAt: now,
        }),
      );
      blocks.push({ status: "sleeping", wakeAt });
      return "parked";
    },
    waitForEvent: async (name, options) => {
      const now = deps.clock();
      let step = history.get(name);
      if (!step) {
        const result = await deps.client.awaitEvent({
          runId: run.id,
          leaseToken: run.leaseToken,
          stepName: name,
          seq: nextSeq++,
          eventName: options.event,
          key: options.key ?? null,
          timeoutAt: options.timeoutMs == null ? null : now + options.timeoutMs,
        });
        await fenced(Promise.resolve(result));
        step = result.ok ? result.step : undefined;
        if (step) history.set(name, step);
      }
      if (!step) throw new KilnError("INTERNAL", `The store did not return the wait step "${name}"`);
      if (step.status === "completed") return { status: "received", payload: step.output };
      if (step.status === "failed" || (step.wakeAt !== null && step.wakeAt <= now)) return { status: "timeout" };
      blocks.push({ status: "waiting", wakeAt: step.wakeAt });
      return { status: "parked" };
    },
  };

  const ctx: TaskContext = {
    run,
    signal: deps.signal,
    deadlineAt: run.deadlineAt,
    log: (level, message) => deps.log(level, message, null),
    progress: (p) => deps.progress(p),
    setState: async (key, value) => {
      await fenced(deps.batcher.updateRun({ runId: run.id, leaseToken: run.leaseToken, state: { [key]: value } }));
    },
    heartbeat: () => {},
    steps,
  };

  try {
    const output = await handler(run.input, ctx);
    if (lost) return lost;
    if (deps.signal.aborted) return abortedOutcome(deps.signal.reason);
    return { outcome: "complete", output: output === undefined ? null : output };
  } catch (error) {
    if (lost) return lost;
    if (error instanceof RunParked && blocks.length > 0) {
      const waiting = blocks.some((b) => b.status === "waiting");
      const times = blocks.map((b) => b.wakeAt).filter((t): t is number => t !== null);
      return {
        outcome: "park",
        status: waiting ? "waiting" : "sleeping",
        wakeAt: times.length ? Math.min(...times) : null,
      };
    }
    if (deps.signal.aborted) return abortedOutcome(deps.signal.reason);
    return { outcome: "fail", error: serializeError(error, "TASK_FAILED"), compensable: false };
  }
}

/** Maps the abort reason of a task to its outcome: cancel ends the run, shutdown gives it back. */
function abortedOutcome(reason: unknown): ActivationOutcome {
  if (reason instanceof KilnError) {
    if (reason.code === "RUN_CANCELLED") return { outcome: "cancelled" };
    if (reason.code === "RUN_TIMEOUT") return { outcome: "timed_out", error: serializeError(reason) };
    if (reason.code === "WORKER_STOPPED") return { outcome: "release" };
  }
  return { outcome: "abandoned", error: serializeError(reason, "LEASE_LOST") };
}

function syntheticStep(
  runId: string,
  name: string,
  seq: number,
  status: "completed",
  output: unknown,
  now: number,
): Step {
  return {
    runId,
    name,
    seq,
    type: "step",
    status,
    output: output ?? null,
    error: null,
    attempt: 1,
    wakeAt: null,
    childRunId: null,
    eventName: null,
    eventKey: null,
    compensable: false,
    startedAt: now,
    finishedAt: now,
  };
}
