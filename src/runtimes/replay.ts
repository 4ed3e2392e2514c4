import { KilnError, type SerializedError, serializeError } from "../errors.ts";
import type { Run } from "../engine/run.ts";
import type { Step, StepType } from "../engine/step.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { WriteResult } from "../engine/writes.ts";
import type { ActivationOutcome } from "../workflow/workflow-activation.ts";
import { HostPool } from "./host-pool.ts";
import type { CallHandler, HostActivationResult } from "./host-process.ts";
import type { HostRuntime } from "./protocol.ts";
import { prepareWorkflowSource } from "./workflow-source.ts";

/** Params of replayHistory. */
export interface ReplayHistoryParams {
  /** The (new) workflow source: JS, TypeScript or Python. */
  readonly source: string;
  readonly runtime: HostRuntime;
  /** The recorded run and its steps (`GET /v1/runs/:id` returns both). */
  readonly run: Run;
  readonly steps: readonly Step[];
  /** Hosts to replay in; a temporary pool of one host otherwise. */
  readonly pool?: HostPool;
  /** The Python interpreter of a temporary pool. */
  readonly python?: string;
  /** Where the code resolves its imports (temporary pool). Default: the current directory. */
  readonly directory?: string;
  /** The time the replay runs at: sleeps recorded to end later are still pending. Default: now. */
  readonly now?: number;
}

/** Where a history and the code disagree. */
export interface Divergence {
  /** The step position (seq) of the disagreement. */
  readonly position: number;
  /** What the history recorded there (null: nothing). */
  readonly expected: { readonly name: string; readonly type: StepType } | null;
  /** What the code did there (null: the code ended before it). */
  readonly actual: { readonly name: string } | null;
  readonly message: string;
}

/** What replaying one history against code found. */
export interface ReplayReport {
  readonly runId: string;
  readonly workflow: string;
  /** True when the code follows the history (a failure is fine only where the run failed too). */
  readonly ok: boolean;
  /**
   * `consistent`: the code reached the end of the recorded history and would continue from there;
   * `completed`/`failed`: the code ran to its end on recorded results; `diverged`: see divergence.
   */
  readonly result: "consistent" | "completed" | "failed" | "diverged";
  readonly divergence: Divergence | null;
  /** Primitives (steps, sleeps, waits, children) the code called during the replay. */
  readonly replayed: number;
  /** Forward steps in the history (compensations not counted). */
  readonly recorded: number;
  readonly error: SerializedError | null;
  readonly output?: unknown;
}

const COMPENSATION_SEQ = 1_000_000;

/**
 * Replays a recorded history against workflow code in a host process, executing nothing new and
 * writing nothing: recorded steps return their results, and the first primitive missing from the
 * history stops the replay. Reports the first divergence (NON_DETERMINISTIC, or history the code
 * no longer reaches), as `kiln replay` and the deploy check need.
 */
export async function replayHistory(p: Readonly<ReplayHistoryParams>): Promise<ReplayReport> {
  const prepared = await prepareWorkflowSource({ source: p.source, runtime: p.runtime });
  const pool =
    p.pool ??
    new HostPool({
      size: 1,
      ...(p.python === undefined ? {} : { python: p.python }),
      ...(p.directory === undefined ? {} : { directory: p.directory }),
      limits: { cpuLimitMs: 30_000 },
    });
  const forward = p.steps.filter((s) => s.seq < COMPENSATION_SEQ);
  const base = { runId: p.run.id, workflow: p.run.name, recorded: forward.length };
  try {
    const host = await pool.acquire(p.runtime, prepared.contentHash);
    let result: HostActivationResult;
    try {
      const filename = p.runtime === "python" ? `${safeName(p.run.name)}.py` : `${safeName(p.run.name)}.mjs`;
      await host.load({ hash: prepared.contentHash, source: prepared.code, filename, directory: pool.directory });
      const now = p.now ?? Date.now();
      const claimed: ClaimedRun = { run: { ...p.run, status: "running" }, steps: [...p.steps] };
      result = await host.activate({
        claimed,
        hash: prepared.contentHash,
        now,
        clock: () => now,
        signal: new AbortController().signal,
        onCall: replayCalls,
        replayOnly: true,
        manualClock: true,
      });
    } finally {
      pool.release(host);
    }
    return toReport(result, p.run, forward, base);
  } catch (error) {
    return {
      ...base,
      ok: false,
      result: "failed",
      divergence: null,
      replayed: 0,
      error: serializeError(error, "INTERNAL"),
    };
  } finally {
    if (!p.pool) await pool.close();
  }
}

/** A run history to check: the run and its recorded steps. */
export interface RunHistory {
  readonly run: Run;
  readonly steps: readonly Step[];
}

/** What the deploy check found: every replay, and the runs whose history the code breaks. */
export interface CompatibilityReport {
  readonly ok: boolean;
  readonly reports: readonly ReplayReport[];
  readonly incompatible: readonly ReplayReport[];
}

/**
 * The deploy gate: replays new code against the histories of a workflow's runs still in flight.
 * `ok` is false when any diverges; `describeIncompatibility` says which runs and where.
 */
export async function checkCompatibility(
  p: Readonly<{
    source: string;
    runtime: HostRuntime;
    histories: readonly RunHistory[];
    pool?: HostPool;
    python?: string;
  }>,
): Promise<CompatibilityReport> {
  const pool = p.pool ?? new HostPool({ size: 1, ...(p.python === undefined ? {} : { python: p.python }) });
  try {
    const reports: ReplayReport[] = [];
    for (const h of p.histories) {
      reports.push(await replayHistory({ source: p.source, runtime: p.runtime, run: h.run, steps: h.steps, pool }));
    }
    const incompatible = reports.filter((r) => !r.ok);
    return { ok: incompatible.length === 0, reports, incompatible };
  } finally {
    if (!p.pool) await pool.close();
  }
}

/** One line per report: the run and what happened at which step. */
export function describeReplay(report: ReplayReport): string {
  if (report.divergence) return `run ${report.runId}: ${report.divergence.message}`;
  if (report.result === "failed") {
    return `run ${report.runId}: the code failed during replay: ${report.error?.code ?? "ERROR"} ${report.error?.message ?? ""}`;
  }
  const how = report.result === "consistent" ? "matches its history" : `${report.result} on its recorded history`;
  return `run ${report.runId}: ${how} (${report.replayed} of ${report.recorded} recorded step(s) replayed)`;
}

/** The error a refused deploy raises: NON_DETERMINISTIC, naming runs and steps. */
export function describeIncompatibility(name: string, report: CompatibilityReport): KilnError {
  const lines = report.incompatible.map((r) => `  ${describeReplay(r)}`);
  return new KilnError(
    "NON_DETERMINISTIC",
    `The new code of workflow "${name}" diverges from the history of ${report.incompatible.length} run(s) in flight:\n${lines.join("\n")}\nDeploy it as a new version for new runs only (runs stay pinned to their version), or let those runs finish first.`,
    {
      retryable: false,
      data: {
        runs: report.incompatible.map((r) => ({ runId: r.runId, divergence: r.divergence, error: r.error })),
      },
    },
  );
}

const replayCalls: CallHandler = async (method, params) => {
  switch (method) {
    case "saveSteps":
      return ((params as { steps?: unknown[] }).steps ?? []).map(
        (): WriteResult => ({ ok: true, cancelRequested: false }),
      );
    case "updateRuns":
      return ((params as { items?: unknown[] }).items ?? []).map(
        (): WriteResult => ({ ok: true, cancelRequested: false }),
      );
    case "appendLogs":
      return null;
    default:
      throw new KilnError("INTERNAL", `A replay never calls ${method}: nothing new is executed`);
  }
};

function toReport(
  result: HostActivationResult,
  run: Run,
  forward: readonly Step[],
  base: { runId: string; workflow: string; recorded: number },
): ReplayReport {
  if (result.kind !== "done") {
    const error =
      result.kind === "cpu-limit"
        ? { code: "ACTIVATION_TIMEOUT", message: `The replay used more than ${result.cpuMs} ms of CPU` }
        : { code: "HOST_CRASHED", message: result.kind === "crashed" ? result.detail : "The replay was aborted" };
    return { ...base, ok: false, result: "failed", divergence: null, replayed: 0, error };
  }
  const { outcome, reached } = result;
  const bySeq = new Map(forward.map((s) => [s.seq, s]));
  if (outcome.outcome === "fail" && outcome.error.code === "NON_DETERMINISTIC") {
    const data = outcome.error.data ?? {};
    const position = typeof data.position === "number" ? data.position : reached - 1;
    const expected = bySeq.get(position) ?? forward.find((s) => s.name === data.actual);
    return {
      ...base,
      ok: false,
      result: "diverged",
      replayed: reached,
      error: outcome.error,
      divergence: {
        position,
        expected: expected ? { name: expected.name, type: expected.type } : null,
        actual: typeof data.actual === "string" ? { name: data.actual } : null,
        message: outcome.error.message,
      },
    };
  }
  const ended = outcome.outcome === "complete" || outcome.outcome === "fail";
  const unreached = ended ? forward.filter((s) => s.seq >= reached).sort((a, b) => a.seq - b.seq)[0] : undefined;
  if (unreached) {
    return {
      ...base,
      ok: false,
      result: "diverged",
      replayed: reached,
      error: outcome.outcome === "fail" ? outcome.error : null,
      divergence: {
        position: unreached.seq,
        expected: { name: unreached.name, type: unreached.type },
        actual: null,
        message: `The code ${outcome.outcome === "complete" ? "returned" : "failed"} after ${reached} step(s), but the history continues at position ${unreached.seq} with ${unreached.type} "${unreached.name}"`,
      },
    };
  }
  return outcomeReport(outcome, run, reached, base);
}

function outcomeReport(
  outcome: ActivationOutcome,
  run: Run,
  reached: number,
  base: { runId: string; workflow: string; recorded: number },
): ReplayReport {
  const common = { ...base, divergence: null, replayed: reached };
  switch (outcome.outcome) {
    case "complete":
      return { ...common, ok: true, result: "completed", error: null, output: outcome.output };
    case "park":
      return { ...common, ok: true, result: "consistent", error: null };
    case "fail": {
      const runFailed = ["failed", "compensating", "compensated", "cancelling", "cancelled"].includes(run.status);
      return { ...common, ok: runFailed, result: "failed", error: outcome.error };
    }
    default: {
      const error =
        "error" in outcome ? outcome.error : { code: "INTERNAL", message: `Replay ended with ${outcome.outcome}` };
      return { ...common, ok: false, result: "failed", error };
    }
  }
}

function safeName(name: string): string {
  return name.replace(/[^\w.-]/g, "_");
}
