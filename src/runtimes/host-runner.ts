import { KilnError, serializeError } from "../errors.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { ActivationDeps, ActivationOutcome } from "../workflow/workflow-activation.ts";
import { ActivationTracker, fencedCallHandler } from "./host-calls.ts";
import type { HostPool } from "./host-pool.ts";
import type { HostProcess } from "./host-process.ts";
import type { HostRuntime } from "./protocol.ts";

/** Deployed code ready for a host: runtime, content hash, runnable text and a file name. */
export interface HostCode {
  readonly runtime: HostRuntime;
  readonly hash: string;
  /** ES module JavaScript (see prepareWorkflowSource) or Python source. */
  readonly code: string;
  readonly filename: string;
}

/** Options of a HostRunner. */
export interface HostRunnerOptions {
  /** Host crashes or hangs tolerated per run before it fails with HOST_CRASHED. Default 3. */
  readonly maxCrashes?: number;
  /** The worker runs on a manual clock (tests, createTestEnv): hosts use its time as is. */
  readonly manualClock?: boolean;
}

/**
 * Runs activations of deployed workflows in host processes with the semantics of in-process
 * ones: the host replays the code, the worker performs its writes and finishes the run with the
 * outcome. A host that dies or hangs is replaced and the run given back for another activation
 * (its recorded steps are replayed); an activation over its CPU limit fails ACTIVATION_TIMEOUT.
 * A run whose host failed while it shared it runs alone next time, so the watchdog can tell
 * exactly which run loops.
 */
export class HostRunner {
  readonly pool: HostPool;
  readonly #maxCrashes: number;
  readonly #manualClock: boolean;
  readonly #crashes = new Map<string, number>();
  /** Runs that shared a host a loop blocked: they run alone until one activation ends well. */
  readonly #suspects = new Set<string>();

  constructor(pool: HostPool, options: Readonly<HostRunnerOptions> = {}) {
    this.pool = pool;
    this.#maxCrashes = options.maxCrashes ?? 3;
    this.#manualClock = options.manualClock ?? false;
  }

  /** One activation of a run in a host; never rejects. */
  async activate(code: HostCode, claimed: ClaimedRun, deps: ActivationDeps): Promise<ActivationOutcome> {
    const { run } = claimed;
    const tracker = new ActivationTracker(claimed);
    let host: HostProcess;
    const alone = this.#suspects.has(run.id) || this.#crashes.has(run.id);
    try {
      host = await this.pool.acquire(code.runtime, code.hash, alone);
    } catch (error) {
      return this.#crashed(claimed, serializeError(error).message, tracker, deps);
    }
    try {
      if (!host.loaded.has(code.hash)) {
        await host.load({
          hash: code.hash,
          source: code.code,
          filename: code.filename,
          directory: this.pool.directory,
        });
      }
      const result = await host.activate({
        claimed,
        hash: code.hash,
        now: deps.clock(),
        clock: deps.clock,
        signal: deps.signal,
        onCall: fencedCallHandler(run, deps, tracker),
        onOutput: (line) => deps.log("info", line, null),
        ...(deps.replayOnly ? { replayOnly: true } : {}),
        ...(this.#manualClock ? { manualClock: true } : {}),
      });
      switch (result.kind) {
        case "done":
          this.#crashes.delete(run.id);
          this.#suspects.delete(run.id);
          return result.outcome;
        case "suspect":
          if (this.#suspects.size > 10_000) this.#suspects.clear();
          this.#suspects.add(run.id);
          deps.log(
            "warning",
            `The workflow host was stopped (${result.detail}); the activation is retried alone`,
            null,
          );
          return { outcome: "release" };
        case "aborted":
          return abortedOutcome(result.reason);
        case "cpu-limit": {
          const limit = this.pool.limits.cpuLimitMs;
          const error = new KilnError(
            "ACTIVATION_TIMEOUT",
            `Workflow "${run.name}" used more than ${limit} ms of CPU in one activation (an infinite loop?); it was stopped. Move heavy work into a task, or raise the host CPU limit.`,
            { retryable: false, data: { cpuLimitMs: limit, cpuMs: result.cpuMs } },
          );
          deps.log("error", error.message, null);
          this.#suspects.delete(run.id);
          return { outcome: "fail", error: serializeError(error), compensable: tracker.compensable };
        }
        case "crashed":
          return this.#crashed(claimed, result.detail, tracker, deps);
      }
    } catch (error) {
      if (error instanceof KilnError && error.code === "WORKFLOW_LOAD_FAILED") {
        deps.log("error", error.message, null);
        return { outcome: "fail", error: serializeError(error), compensable: tracker.compensable };
      }
      return this.#crashed(claimed, serializeError(error).message, tracker, deps);
    } finally {
      this.pool.release(host);
    }
  }

  #crashed(claimed: ClaimedRun, detail: string, tracker: ActivationTracker, deps: ActivationDeps): ActivationOutcome {
    const { run } = claimed;
    const crashes = (this.#crashes.get(run.id) ?? 0) + 1;
    if (this.#crashes.size > 10_000) this.#crashes.clear();
    if (crashes < this.#maxCrashes) {
      this.#crashes.set(run.id, crashes);
      deps.log("warning", `The workflow host failed (${detail}); the activation is retried on a new host`, null);
      return { outcome: "release" };
    }
    this.#crashes.delete(run.id);
    const error = new KilnError(
      "HOST_CRASHED",
      `The workflow host failed ${crashes} times running workflow "${run.name}" (last: ${detail})`,
      { data: { crashes } },
    );
    deps.log("error", error.message, null);
    return { outcome: "fail", error: serializeError(error), compensable: tracker.compensable };
  }
}

/** The outcome of an activation stopped by its signal (as WorkflowActivation decides it). */
export function abortedOutcome(reason: unknown): ActivationOutcome {
  if (reason instanceof KilnError) {
    if (reason.code === "RUN_TIMEOUT") return { outcome: "timed_out", error: serializeError(reason) };
    if (reason.code === "RUN_CANCELLED" || reason.code === "WORKER_STOPPED") return { outcome: "release" };
  }
  return { outcome: "abandoned", error: serializeError(reason, "LEASE_LOST") };
}
