import { z } from "zod";
import { STEP_STATUSES } from "../engine/status.ts";
import { STEP_TYPES } from "../engine/step.ts";
import { LOG_LEVELS } from "../engine/log-level.ts";

/**
 * The zod schemas of values that both the public API (src/server/api-schemas.ts, named in the
 * OpenAPI document) and the remote worker protocol (./worker-schemas.ts) carry. They live with
 * the protocol, below the server, so the protocol never imports the server.
 */

/** An error as the store and the wire keep it (src/errors.ts `serializeError`). */
export const SerializedError = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

export const ProgressSchema = z.object({ percent: z.number().nullable(), message: z.string().nullable() });

export const StepSchema = z.object({
  runId: z.string(),
  name: z.string(),
  seq: z.number().int(),
  type: z.enum(STEP_TYPES),
  status: z.enum(STEP_STATUSES),
  output: z.unknown(),
  error: SerializedError.nullable(),
  attempt: z.number().int(),
  wakeAt: z.number().nullable(),
  childRunId: z.string().nullable(),
  eventName: z.string().nullable(),
  eventKey: z.string().nullable(),
  compensable: z.boolean(),
  startedAt: z.number(),
  finishedAt: z.number().nullable(),
});

export const LogLevelSchema = z.enum(LOG_LEVELS);

// Request numbers are bounded to what the columns hold: PostgreSQL rejects an INTEGER over 2^31-1
// or a BIGINT over 2^63-1 with an error (500) instead of a message naming the field.

/** A priority (INTEGER column): within int32. */
export const PrioritySchema = z.number().int().min(-2_147_483_648).max(2_147_483_647);
/** The longest duration a request may ask for (timeouts, delays, retry intervals): 10 years. */
export const MAX_DURATION_MS = 10 * 365 * 24 * 3_600_000;
/** A duration in milliseconds, 0 to MAX_DURATION_MS. */
export const DurationMsSchema = z.number().min(0).max(MAX_DURATION_MS);
/** An epoch-millisecond timestamp: 0 up to the largest JavaScript date. */
export const EpochMsSchema = z.number().min(0).max(8.64e15);
/** A counter (seq, attempt, lease token): a non-negative safe integer. */
export const CounterSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
