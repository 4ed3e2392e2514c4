import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import { formatDuration } from "../engine/duration.ts";
import { isKilnError, KilnError } from "../errors.ts";
import { classifyExit } from "./exit-status.ts";
import type { KillOutcome } from "./kill-tree.ts";
import type { ProcessExit } from "./spawn-process.ts";
import type { ScriptVerdict } from "./script-result.ts";

/** Why the executor stopped a script before it exited by itself. */
export type StopReason = "timeout" | "deadline" | "heartbeat" | "cancel" | "parked";

/** What decides an attempt's verdict. */
export interface VerdictParams {
  readonly kind: ResolvedTaskKind;
  readonly exit: ProcessExit;
  readonly stopReason: StopReason | null;
  readonly kill: KillOutcome | null;
  /** The abort reason of the task context's signal, for `cancel`. */
  readonly abortReason: unknown;
  /** The effective time limit that fired, for `timeout` and `deadline`. */
  readonly limitMs: number | null;
  /** A failed state write (e.g. LEASE_LOST), or null. */
  readonly recordError: unknown;
  /** The last non-empty stderr line, shown in the message. */
  readonly lastStderrLine: string | null;
  /** The sandbox's memory limit in bytes when the kernel killed a process for going over it. */
  readonly memoryLimitHit?: number | null;
}

function killSequence(kind: ResolvedTaskKind, kill: KillOutcome | null, forced: boolean): string {
  if (forced) return "its process group was killed (SIGKILL)";
  const after = `SIGKILL after the ${formatDuration(kind.gracePeriodMs)} grace period`;
  return kill?.killed ? `its process group got SIGTERM, then ${after}` : "its process group got SIGTERM and exited";
}

function exitMessage(params: VerdictParams, retry: boolean): KilnError {
  const { kind, exit, lastStderrLine } = params;
  const detail = lastStderrLine ? `: ${lastStderrLine}` : "";
  if (exit.signal !== null) {
    return new KilnError("EXEC_SIGNALED", `${kind.kind} was killed by ${exit.signal}${detail}`, { retryable: retry });
  }
  const note = retry && kind.exitCodes.retry.has(exit.exitCode ?? -1) ? " (a retry code)" : "";
  return new KilnError("EXEC_FAILED", `${kind.kind} exited with code ${exit.exitCode}${note}${detail}`, {
    retryable: retry,
  });
}

/** The error of an attempt stopped through its abort signal (a KilnError reason is kept). */
export function cancelError(reason: unknown): KilnError {
  if (isKilnError(reason))
    return new KilnError(reason.code, reason.message, { retryable: reason.retryable, cause: reason });
  const why = reason instanceof Error ? reason.message : typeof reason === "string" ? reason : "cancelled";
  return new KilnError("RUN_CANCELLED", `The attempt was stopped: ${why}`, { retryable: false, cause: reason });
}

/**
 * Decides the verdict of an attempt whose process has exited (or been stopped). Output problems
 * are decided afterwards by the caller, for a success exit only.
 */
export function decideVerdict(params: VerdictParams): { verdict: ScriptVerdict; error: KilnError | null } {
  const { kind, stopReason, kill } = params;
  const asVerdict = (error: KilnError) => ({
    verdict: (error.retryable ? "retry" : "failure") as ScriptVerdict,
    error,
  });
  const limit = formatDuration(params.limitMs ?? 0);
  switch (stopReason) {
    case "parked":
      return { verdict: "parked", error: null };
    case "timeout":
      return asVerdict(
        new KilnError(
          "EXEC_TIMEOUT",
          `${kind.kind} timed out after ${limit}; ${killSequence(kind, kill, kind.timeoutAction === "kill")}`,
          { retryable: kind.retryOnTimeout },
        ),
      );
    case "deadline":
      return asVerdict(
        new KilnError(
          "RUN_TIMEOUT",
          `The run reached its deadline; ${killSequence(kind, kill, kind.timeoutAction === "kill")}`,
          {
            retryable: false,
          },
        ),
      );
    case "heartbeat":
      return asVerdict(
        new KilnError(
          "EXEC_HEARTBEAT_TIMEOUT",
          `${kind.kind} went silent for ${formatDuration(kind.heartbeatTimeoutMs ?? 0)} (heartbeat_timeout_seconds); ` +
            killSequence(kind, kill, kind.timeoutAction === "kill"),
          { retryable: kind.retryOnTimeout },
        ),
      );
    case "cancel":
      return asVerdict(cancelError(params.abortReason));
    default:
      break;
  }
  if (params.recordError !== null) {
    const error = params.recordError;
    return asVerdict(
      isKilnError(error) ? error : new KilnError("INTERNAL", `Saving state failed: ${(error as Error)?.message}`),
    );
  }
  const exitClass = classifyExit(kind.exitCodes, params.exit);
  if (exitClass === "success") return { verdict: "success", error: null };
  const memoryLimit = params.memoryLimitHit ?? null;
  if (memoryLimit !== null) {
    const mib = Math.round((memoryLimit / 1024 / 1024) * 10) / 10;
    return asVerdict(
      new KilnError(
        "SANDBOX_MEMORY_LIMIT",
        `${kind.kind} was killed at its sandbox memory limit of ${mib} MiB (${params.exit.signal ?? `exit ${params.exit.exitCode}`}); raise sandbox.memory or make the script use less`,
        { retryable: kind.retryOnFailure },
      ),
    );
  }
  if (exitClass === "retry") return asVerdict(exitMessage(params, true));
  return asVerdict(exitMessage(params, kind.retryOnFailure));
}
