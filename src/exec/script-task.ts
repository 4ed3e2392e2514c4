import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import type { Run } from "../engine/run.ts";
// RunParked is the signal, understood by the worker, that a handler parked its run.
import { RunParked } from "../workflow/task-context.ts";
import { runScript } from "./run-script.ts";
import type { ScriptDependencies } from "./prepare-script.ts";
import type { ScriptHost } from "./script-host.ts";
import type { ScriptResult } from "./script-result.ts";

/**
 * The task context a script task needs: the TaskContext (src/workflow/task-context.ts) that the
 * worker gives a handler satisfies it as is.
 */
export interface ScriptTaskContext extends ScriptHost {
  readonly run: Pick<Run, "id" | "input" | "attempt" | "state" | "parentRunId">;
  readonly signal: AbortSignal;
  readonly deadlineAt: number | null;
}

/** Options of executing a script task, beyond its kind and context. */
export interface ExecuteScriptOptions {
  /** The input (default: the run's input). */
  readonly input?: unknown;
  /** Secret values resolved by the worker (at least the kind's `secrets`); all are masked. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** The workflow run this task runs for (default: the parent run id, no name). */
  readonly workflow?: Readonly<{ runId: string; name: string | null }> | null;
  /** The idempotency key given to the script (default: the run id, stable across attempts). */
  readonly idempotencyKey?: string;
  /** A W3C traceparent to continue (default: a trace derived from the run id). */
  readonly traceparent?: string | null;
  /** A directory put first on PATH: the worker's own `kiln`. */
  readonly binDir?: string | null;
  /**
   * The environment scripts inherit (default: process.env as it was at the first attempt; reading
   * it costs about 0.1 ms, so it is read once). An object given here is read on every attempt.
   */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  readonly tempDir?: string;
  /** The worker's cache of `requirements` environments and `source` fetches. */
  readonly dependencies?: ScriptDependencies | null;
  /** Receives the whole result (success or not) before this function returns or throws. */
  readonly onResult?: (result: ScriptResult) => void;
}

/**
 * Runs one attempt of a script task kind for the worker: returns the output on success; throws
 * `RunParked` when a `kiln sleep` / `kiln wait-event` parked the run; otherwise throws the
 * attempt's KilnError, whose `retryable` follows the exit-code map (retry codes: true; failure
 * codes: false unless retry_on_failure; timeouts: retry_on_timeout) and whose `data` holds exit
 * code, signal, timedOut, durationMs, stdout and stderr tails and the output so far.
 */
export async function executeScriptTask(
  kind: ResolvedTaskKind,
  ctx: ScriptTaskContext,
  options: ExecuteScriptOptions = {},
): Promise<unknown> {
  const run = ctx.run;
  const workflow = options.workflow === undefined ? null : options.workflow;
  const result = await runScript(kind, {
    input: options.input === undefined ? run.input : options.input,
    context: {
      runId: run.id,
      taskKind: kind.kind,
      attempt: run.attempt,
      maxRetries: kind.maxRetries,
      workflowRunId: workflow?.runId ?? run.parentRunId,
      workflowName: workflow?.name ?? null,
      idempotencyKey: options.idempotencyKey ?? run.id,
      traceparent: options.traceparent ?? null,
    },
    host: ctx,
    state: run.state,
    signal: ctx.signal,
    deadlineAt: ctx.deadlineAt,
    ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
    ...(options.binDir === undefined ? {} : { binDir: options.binDir }),
    ...(options.baseEnv === undefined ? {} : { baseEnv: options.baseEnv }),
    ...(options.tempDir === undefined ? {} : { tempDir: options.tempDir }),
    ...(options.dependencies === undefined ? {} : { dependencies: options.dependencies }),
  });
  options.onResult?.(result);
  if (result.verdict === "success") return result.output;
  if (result.verdict === "parked") throw new RunParked();
  throw result.error;
}

/** A worker TaskHandler-shaped function for a kind: `(input, ctx) => output`. */
export function scriptTaskHandler(
  kind: ResolvedTaskKind,
  options: Omit<ExecuteScriptOptions, "input"> = {},
): (input: unknown, ctx: ScriptTaskContext) => Promise<unknown> {
  return (input, ctx) => executeScriptTask(kind, ctx, { ...options, input });
}
