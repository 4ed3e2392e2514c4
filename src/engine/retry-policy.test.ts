import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import { decideRetry, NO_RETRY, resolveRetryPolicy } from "./retry-policy.ts";

describe("retry policy", () => {
  const policy = resolveRetryPolicy({
    maxAttempts: 4,
    initialIntervalMs: 100,
    maxIntervalMs: 300,
    backoffCoefficient: 2,
  });

  it("backs off exponentially up to the max interval and stops at max attempts", () => {
    const err = { code: "STEP_FAILED" };
    assert.deepEqual(decideRetry(policy, 1, err), { retry: true, delayMs: 100 });
    assert.deepEqual(decideRetry(policy, 2, err), { retry: true, delayMs: 200 });
    assert.deepEqual(decideRetry(policy, 3, err), { retry: true, delayMs: 300 });
    assert.deepEqual(decideRetry(policy, 4, err), { retry: false });
  });

  it("never retries non-retryable errors or listed codes", () => {
    assert.deepEqual(decideRetry(policy, 1, { code: "X", retryable: false }), { retry: false });
    const listed = resolveRetryPolicy({ ...policy, nonRetryableErrors: ["BAD_THING"] });
    assert.deepEqual(decideRetry(listed, 1, { code: "BAD_THING" }), { retry: false });
  });

  it("applies jitter within bounds using the injected random", () => {
    const jittery = resolveRetryPolicy({ ...policy, jitter: 0.5 });
    assert.deepEqual(
      decideRetry(jittery, 1, { code: "X" }, () => 0),
      { retry: true, delayMs: 50 },
    );
    assert.deepEqual(
      decideRetry(jittery, 1, { code: "X" }, () => 0.999999),
      { retry: true, delayMs: 150 },
    );
  });

  it("defaults to no retry and validates input", () => {
    assert.deepEqual(decideRetry(NO_RETRY, 1, { code: "X" }), { retry: false });
    assert.throws(
      () => resolveRetryPolicy({ maxAttempts: 0 }),
      (e: unknown) => hasCode(e, "INVALID_INPUT"),
    );
    assert.throws(
      () => resolveRetryPolicy({ backoffCoefficient: 0.5 }),
      (e: unknown) => hasCode(e, "INVALID_INPUT"),
    );
    assert.ok(Object.isFrozen(policy));
  });
});
