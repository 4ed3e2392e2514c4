import type { Span } from "@opentelemetry/api";
import type { Run } from "../engine/run.ts";
import type { FinishRunParams } from "../engine/finish.ts";
import type { SaveStepParams } from "../engine/writes.ts";
import { contextFromTraceparent, endSpan, runSpanId, runTraceId, startSpan, tracingOn } from "../tracing/spans.ts";

/**
 * The spans a worker records for a run (tracing on; see src/tracing/spans.ts): one per attempt
 * (each activation), one per recorded step, and the run's own span once the run ends. Attempts
 * and child runs name the run's span (whose id comes from the run id) as parent before it exists.
 */

/** The trace id of a run: its stored traceparent's, else its root run's id. */
function traceIdOf(run: Run): string {
  const stored = contextFromTraceparent(run.metadata.traceparent);
  if (stored === undefined) return runTraceId(run.rootRunId);
  return /^00-([0-9a-f]{32})-/.exec(run.metadata.traceparent as string)?.[1] as string;
}

/** Starts the span of one activation of a claimed run (undefined when tracing is off). */
export function startAttemptSpan(run: Run): Span | undefined {
  if (!tracingOn()) return undefined;
  const parent = contextFromTraceparent(`00-${traceIdOf(run)}-${runSpanId(run.id)}-01`);
  return startSpan(`attempt ${run.attempt}`, {
    ...(parent === undefined ? {} : { parent }),
    attributes: { "kiln.run.id": run.id, "kiln.attempt": run.attempt, "kiln.run.status": run.status },
  });
}

/** Whether an activation's outcome ends the run for good. */
function ends(params: FinishRunParams): boolean {
  if (params.outcome === "fail") return params.retryAt === undefined && params.compensate !== true;
  return params.outcome !== "park" && params.outcome !== "release";
}

/** Ends the activation's span and, when the run ended, records the run's span (from its creation). */
export function endAttemptSpans(run: Run, attempt: Span | undefined, params: FinishRunParams): void {
  if (attempt === undefined) return;
  const error = "error" in params ? params.error : undefined;
  attempt.setAttribute("kiln.outcome", params.outcome);
  endSpan(attempt, params.outcome === "fail" || params.outcome === "timed_out" ? error : null);
  if (!ends(params)) return;
  const stored = contextFromTraceparent(run.metadata.traceparent);
  // A child run hangs under its parent's run span; a root run under the span that started it.
  const parent =
    stored ??
    (run.parentRunId === null
      ? undefined
      : contextFromTraceparent(`00-${traceIdOf(run)}-${runSpanId(run.parentRunId)}-01`));
  const span = startSpan(`run ${run.name}`, {
    ...(parent === undefined ? { traceId: traceIdOf(run) } : { parent }),
    spanId: runSpanId(run.id),
    startTime: run.createdAt,
    attributes: {
      "kiln.run.id": run.id,
      "kiln.run.type": run.type,
      "kiln.run.name": run.name,
      "kiln.namespace": run.namespace,
      "kiln.outcome": params.outcome,
    },
  });
  endSpan(span, params.outcome === "complete" || params.outcome === "compensated" ? null : (error ?? null));
}

/** Records a settled step as a span under the active attempt (from its start when known). */
export function recordStepSpan(step: SaveStepParams): void {
  if (!tracingOn() || (step.status !== "completed" && step.status !== "failed")) return;
  const span = startSpan(`step ${step.name}`, {
    ...(step.startedAt === undefined ? {} : { startTime: step.startedAt }),
    attributes: { "kiln.run.id": step.runId, "kiln.step.name": step.name, "kiln.step.type": step.type },
  });
  endSpan(span, step.status === "failed" ? (step.error ?? null) : null);
}
