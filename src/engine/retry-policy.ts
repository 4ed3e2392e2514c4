import { KilnError } from "../errors.ts";
import type { SerializedError } from "../errors.ts";

/** How a run or step is retried after a failed attempt. All times in milliseconds. */
export interface RetryPolicy {
  /** Total attempts including the first (1 = no retry). */
  readonly maxAttempts: number;
  readonly initialIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly backoffCoefficient: number;
  /** Fraction of the interval added or removed at random (0 = none, 0.2 = ±20 %). */
  readonly jitter: number;
  /** Error codes that are never retried, whatever the attempt. */
  readonly nonRetryableErrors: readonly string[];
}

/** The policy used when none is given: no retries for runs. */
export const NO_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 1,
  initialIntervalMs: 1000,
  maxIntervalMs: 60_000,
  backoffCoefficient: 2,
  jitter: 0,
  nonRetryableErrors: Object.freeze([]) as readonly string[],
});

/** What a user may write: any subset of the policy. */
export type RetryPolicyInput = Partial<RetryPolicy>;

/** Fills in defaults and validates; the result is frozen. */
export function resolveRetryPolicy(input: RetryPolicyInput | undefined, base: RetryPolicy = NO_RETRY): RetryPolicy {
  const policy = { ...base, ...(input ?? {}) };
  const check = (name: keyof RetryPolicy, ok: boolean) => {
    if (!ok) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected retry "${name}" to be a valid number, got ${JSON.stringify(policy[name])}`,
      );
    }
  };
  check("maxAttempts", Number.isInteger(policy.maxAttempts) && policy.maxAttempts >= 1);
  check("initialIntervalMs", Number.isFinite(policy.initialIntervalMs) && policy.initialIntervalMs >= 0);
  check("maxIntervalMs", Number.isFinite(policy.maxIntervalMs) && policy.maxIntervalMs >= 0);
  check("backoffCoefficient", Number.isFinite(policy.backoffCoefficient) && policy.backoffCoefficient >= 1);
  check("jitter", Number.isFinite(policy.jitter) && policy.jitter >= 0 && policy.jitter <= 1);
  return Object.freeze({ ...policy, nonRetryableErrors: Object.freeze([...policy.nonRetryableErrors]) });
}

/** The decision after a failed attempt: retry after `delayMs`, or stop. */
export type RetryDecision = { readonly retry: true; readonly delayMs: number } | { readonly retry: false };

/**
 * Decides whether attempt `attempt` (1-based, the one that just failed) is retried and after how
 * long. `random` is injected so replays and tests stay deterministic.
 */
export function decideRetry(
  policy: RetryPolicy,
  attempt: number,
  error: Pick<SerializedError, "code" | "retryable">,
  random: () => number = Math.random,
): RetryDecision {
  if (attempt >= policy.maxAttempts) return { retry: false };
  if (error.retryable === false) return { retry: false };
  if (policy.nonRetryableErrors.includes(error.code)) return { retry: false };
  const base = Math.min(
    policy.maxIntervalMs,
    policy.initialIntervalMs * policy.backoffCoefficient ** Math.max(0, attempt - 1),
  );
  const spread = base * policy.jitter;
  const delayMs = Math.max(0, Math.round(base - spread + random() * 2 * spread));
  return { retry: true, delayMs };
}
