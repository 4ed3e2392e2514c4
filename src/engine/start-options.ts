import type { StartRunParams } from "./start-run.ts";
import { type RetryPolicyInput, resolveRetryPolicy } from "./retry-policy.ts";
import type { RunType } from "./run.ts";

/** Options when starting a run from code (`Kiln`, `TestEnv`). */
export interface StartOptions {
  readonly idempotencyKey?: string;
  readonly queue?: string;
  readonly priority?: number;
  readonly concurrencyKey?: string;
  readonly retry?: RetryPolicyInput;
  readonly timeoutMs?: number;
  readonly version?: string;
  readonly metadata?: Record<string, unknown>;
}

/** The store's start parameters for a run started from code; absent options stay absent. */
export function startRunParams(
  namespace: string,
  type: RunType,
  name: string,
  input: unknown,
  options: StartOptions,
): StartRunParams {
  return {
    namespace,
    type,
    name,
    input: input ?? null,
    ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.concurrencyKey === undefined ? {} : { concurrencyKey: options.concurrencyKey }),
    ...(options.retry === undefined ? {} : { retryPolicy: resolveRetryPolicy(options.retry) }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.version === undefined ? {} : { version: options.version }),
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
  };
}
