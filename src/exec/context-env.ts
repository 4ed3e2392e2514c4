import { envKey } from "./env-names.ts";
import { randomHex } from "./random-ids.ts";

/** Who is running: the run, attempt and workflow that the context environment describes. */
export interface ScriptContext {
  readonly runId: string;
  readonly taskKind: string;
  /** 1-based. */
  readonly attempt: number;
  readonly maxRetries: number;
  readonly workflowRunId: string | null;
  readonly workflowName: string | null;
  /** Stable across attempts, so scripts can pass it to the systems they call. */
  readonly idempotencyKey: string;
  /** A parent W3C traceparent to continue, or null to start a trace from the run id. */
  readonly traceparent: string | null;
  /** The traceparent of the process's own span (tracing on): given to the script as is. */
  readonly processTraceparent?: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const DASHES = /-/g;

// A character loop: the equivalent regular expressions cost about 10 µs per attempt here.
function isTraceId(id: string): boolean {
  if (id.length !== 32) return false;
  let nonZero = false;
  for (let i = 0; i < 32; i++) {
    const code = id.charCodeAt(i);
    if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 102))) return false;
    if (code !== 48) nonZero = true;
  }
  return nonZero;
}

/**
 * A W3C traceparent for one attempt: the parent's trace id when given, else one derived from the
 * run id (a UUID is 32 hex digits), and a fresh span id.
 */
export function makeTraceparent(runId: string, parent: string | null): string {
  const match = parent === null ? null : TRACEPARENT.exec(parent);
  let traceId = match?.[1] ?? runId.replace(DASHES, "").toLowerCase();
  if (!isTraceId(traceId)) traceId = randomHex(16);
  const flags = match?.[3] ?? "01";
  return `00-${traceId}-${randomHex(8)}-${flags}`;
}

/** The KILN_* variables and TRACEPARENT of an attempt (README "Script tasks"). */
export function contextEnv(context: ScriptContext): Record<string, string> {
  return {
    KILN_RUN_ID: context.runId,
    KILN_TASK_KIND: context.taskKind,
    KILN_ATTEMPT: String(context.attempt),
    KILN_MAX_RETRIES: String(context.maxRetries),
    KILN_WORKFLOW_RUN_ID: context.workflowRunId ?? "",
    KILN_WORKFLOW_NAME: context.workflowName ?? "",
    KILN_IDEMPOTENCY_KEY: context.idempotencyKey,
    TRACEPARENT: context.processTraceparent ?? makeTraceparent(context.runId, context.traceparent),
  };
}

/** STATE_<KEY> for every state key saved by earlier attempts. */
export function stateEnv(state: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(state)) env[`STATE_${envKey(key)}`] = value;
  return env;
}

function filterInherited(all: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name in all) {
    const value = all[name];
    if (value === undefined || name === "TRACEPARENT") continue;
    if (name.startsWith("KILN_") || name.startsWith("INPUT_") || name.startsWith("STATE_")) continue;
    env[name] = value;
  }
  return env;
}

let processEnvSnapshot: Readonly<Record<string, string>> | null = null;

/**
 * The variables of the worker's own environment that reach a script: all but Kiln's own (KILN_*,
 * INPUT_*, STATE_*, TRACEPARENT). process.env is read once, at the first attempt, and the snapshot
 * reused: reading it costs about 0.1 ms per attempt. A worker sets its environment before it runs.
 */
export function inheritedEnv(base: Readonly<Record<string, string | undefined>>): Readonly<Record<string, string>> {
  if (base !== process.env) return filterInherited(base);
  // One spread reads process.env in a single pass; its per-key accessors are slow.
  processEnvSnapshot ??= Object.freeze(filterInherited({ ...base }));
  return processEnvSnapshot;
}
