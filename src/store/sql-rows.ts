import type { SerializedError } from "../errors.ts";
import { decodePayload } from "../engine/payload.ts";
import type { RetryPolicy } from "../engine/retry-policy.ts";
import type { Progress, Run, RunType } from "../engine/run.ts";
import type { RunStatus, StepStatus } from "../engine/status.ts";
import type { Step, StepType } from "../engine/step.ts";
import type { QueueSettings } from "./store.ts";
import type { LogEntry } from "../engine/log-entry.ts";
import type { LogLevel } from "../engine/log-level.ts";

/** A `runs` row as both drivers return it (BIGINT parsed to number, JSON as text). */
export interface RunRow {
  id: string;
  namespace: string;
  type: string;
  name: string;
  version: string | null;
  queue: string;
  priority: number;
  concurrency_key: string | null;
  status: string;
  input: string | null;
  output: string | null;
  error: string | null;
  attempt: number;
  retry_policy: string | null;
  idempotency_key: string | null;
  parent_run_id: string | null;
  parent_step_name: string | null;
  root_run_id: string;
  lease_owner: string | null;
  lease_token: number;
  lease_expires_at: number | null;
  available_at: number | null;
  deadline_at: number | null;
  wake_requested: number;
  cancel_requested: number;
  state: string;
  progress: string | null;
  metadata: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

/** The columns of `runs`, in table order (for inserts). */
export const RUN_COLUMNS = [
  "id",
  "namespace",
  "type",
  "name",
  "version",
  "queue",
  "priority",
  "concurrency_key",
  "status",
  "input",
  "output",
  "error",
  "attempt",
  "retry_policy",
  "idempotency_key",
  "parent_run_id",
  "parent_step_name",
  "root_run_id",
  "lease_owner",
  "lease_token",
  "lease_expires_at",
  "available_at",
  "deadline_at",
  "wake_requested",
  "cancel_requested",
  "state",
  "progress",
  "metadata",
  "created_at",
  "updated_at",
  "started_at",
  "finished_at",
] as const satisfies readonly (keyof RunRow)[];

/** Integer columns of `runs` (the rest are text), for typed batch parameters. */
export const RUN_INTEGER_COLUMNS: ReadonlySet<string> = new Set([
  "priority",
  "attempt",
  "lease_token",
  "lease_expires_at",
  "available_at",
  "deadline_at",
  "wake_requested",
  "cancel_requested",
  "created_at",
  "updated_at",
  "started_at",
  "finished_at",
]);

/** A `steps` row. */
export interface StepRow {
  run_id: string;
  name: string;
  seq: number;
  type: string;
  status: string;
  output: string | null;
  error: string | null;
  attempt: number;
  wake_at: number | null;
  child_run_id: string | null;
  event_name: string | null;
  event_key: string | null;
  compensable: number;
  started_at: number;
  finished_at: number | null;
}

/** A `logs` row. */
export interface LogRow {
  id: number;
  run_id: string;
  attempt: number;
  step_name: string | null;
  level: string;
  message: string;
  ts: number;
}

/** A `queues` row. */
export interface QueueRow {
  namespace: string;
  name: string;
  concurrency_limit: number | null;
  key_concurrency_limit: number | null;
}

/** Parses a JSON text column that holds an object (null when empty); `{}` (the default) without parsing. */
function decodeJson<T>(text: string | null | undefined): T | null {
  if (text === null || text === undefined) return null;
  return (text === "{}" ? {} : JSON.parse(text)) as T;
}

/** The domain Run of a row. */
export function rowToRun(row: RunRow): Run {
  return {
    id: row.id,
    namespace: row.namespace,
    type: row.type as RunType,
    name: row.name,
    version: row.version,
    queue: row.queue,
    priority: row.priority,
    concurrencyKey: row.concurrency_key,
    status: row.status as RunStatus,
    input: decodePayload(row.input),
    output: decodePayload(row.output),
    error: decodeJson<SerializedError>(row.error),
    attempt: row.attempt,
    retryPolicy: decodeJson<RetryPolicy>(row.retry_policy),
    idempotencyKey: row.idempotency_key,
    parentRunId: row.parent_run_id,
    parentStepName: row.parent_step_name,
    rootRunId: row.root_run_id,
    leaseOwner: row.lease_owner,
    leaseToken: row.lease_token,
    leaseExpiresAt: row.lease_expires_at,
    availableAt: row.available_at,
    deadlineAt: row.deadline_at,
    state: decodeJson<Record<string, string>>(row.state) ?? {},
    progress: decodeJson<Progress>(row.progress),
    metadata: decodeJson<Record<string, unknown>>(row.metadata) ?? {},
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? null,
  };
}

/** The domain Step of a row. */
export function rowToStep(row: StepRow): Step {
  return {
    runId: row.run_id,
    name: row.name,
    seq: row.seq,
    type: row.type as StepType,
    status: row.status as StepStatus,
    output: decodePayload(row.output),
    error: decodeJson<SerializedError>(row.error),
    attempt: row.attempt,
    wakeAt: row.wake_at,
    childRunId: row.child_run_id,
    eventName: row.event_name,
    eventKey: row.event_key,
    compensable: row.compensable === 1,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** The domain LogEntry of a row; its id is the seq. */
export function rowToLog(row: LogRow): LogEntry {
  return {
    runId: row.run_id,
    seq: row.id,
    attempt: row.attempt,
    stepName: row.step_name,
    level: row.level as LogLevel,
    message: row.message,
    ts: row.ts,
  };
}

/** The QueueSettings of a row. */
export function rowToQueue(row: QueueRow): QueueSettings {
  return {
    namespace: row.namespace,
    name: row.name,
    concurrencyLimit: row.concurrency_limit,
    keyConcurrencyLimit: row.key_concurrency_limit,
  };
}
