import { createHash } from "node:crypto";
import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  type SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

/**
 * Kiln's spans, written against `@opentelemetry/api` only. Until start-tracing.ts installs the SDK
 * (an OTLP endpoint is configured), `tracingOn()` is false and every helper returns at once: no
 * span objects, no context switches, no cost on the hot path.
 *
 * A run's trace crosses processes (the server that accepted `POST /v1/runs`, the worker that
 * claims it, the script it spawns) through the store: the run's `metadata.traceparent` (W3C
 * format) is the span that started it. The run's own span has an id derived from the run id, so
 * that every attempt, on any worker, can name it as parent before it ends (it is exported when
 * the run ends). A run without a stored traceparent gets a trace id derived from its id, as the
 * TRACEPARENT given to scripts always had.
 */

let on = false;
/** Ids the next span must have (consumed by the SDK's id generator; see start-tracing.ts). */
const forced: { traceId?: string; spanId?: string } = {};

/** Whether spans are recorded and exported. */
export function tracingOn(): boolean {
  return on;
}

/** Turns span creation on (start-tracing.ts, once the SDK is installed) or off (tests). */
export function setTracingOn(value: boolean): void {
  on = value;
}

/** The id the next span must have, if one is forced (read once by the id generator). */
export function takeForcedId(kind: "traceId" | "spanId"): string | undefined {
  const id = forced[kind];
  delete forced[kind];
  return id;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The W3C traceparent of a span. */
export function traceparentOf(span: Span): string {
  const sc = span.spanContext();
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) === 1 ? "01" : "00"}`;
}

/** A context whose parent is the span a traceparent names (undefined when malformed). */
export function contextFromTraceparent(traceparent: unknown): Context | undefined {
  const match = typeof traceparent === "string" ? TRACEPARENT.exec(traceparent) : null;
  if (!match) return undefined;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[1] as string,
    spanId: match[2] as string,
    traceFlags: Number.parseInt(match[3] as string, 16),
    isRemote: true,
  });
}

/** The span id of a run's span: derived from its id, so any process can parent to it. */
export function runSpanId(runId: string): string {
  return createHash("sha256").update(`kiln run ${runId}`).digest("hex").slice(0, 16);
}

/** The trace id of a run without a stored traceparent: its UUID's 32 hex digits. */
export function runTraceId(runId: string): string {
  return runId.replace(/-/g, "").toLowerCase();
}

/** Options of startSpan. */
export interface KilnSpanOptions {
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  readonly startTime?: number;
  /** The parent (default: the active context). */
  readonly parent?: Context;
  /** Ids this span must have (a run's span). */
  readonly traceId?: string;
  readonly spanId?: string;
}

/** Starts a span; undefined when tracing is off. */
export function startSpan(name: string, options: KilnSpanOptions = {}): Span | undefined {
  if (!on) return undefined;
  if (options.traceId !== undefined) forced.traceId = options.traceId;
  if (options.spanId !== undefined) forced.spanId = options.spanId;
  try {
    return trace.getTracer("kiln").startSpan(
      name,
      {
        ...(options.kind === undefined ? {} : { kind: options.kind }),
        ...(options.attributes === undefined ? {} : { attributes: options.attributes }),
        ...(options.startTime === undefined ? {} : { startTime: options.startTime }),
      },
      options.parent ?? context.active(),
    );
  } finally {
    delete forced.traceId;
    delete forced.spanId;
  }
}

/** Runs `fn` with `span` as the active span (as is when there is none). */
export function withSpan<T>(span: Span | undefined, fn: () => T): T {
  if (span === undefined) return fn();
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** The active span's traceparent, when tracing is on and a span is active. */
export function activeTraceparent(): string | undefined {
  if (!on) return undefined;
  const span = trace.getSpan(context.active());
  return span?.isRecording() ? traceparentOf(span) : undefined;
}

/** Ends a span, marking it failed with `error` when given. */
export function endSpan(
  span: Span | undefined,
  error?: { code: string; message: string } | null,
  endTime?: number,
): void {
  if (span === undefined) return;
  if (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.code}: ${error.message}` });
    span.setAttribute("kiln.error.code", error.code);
  }
  span.end(endTime);
}
