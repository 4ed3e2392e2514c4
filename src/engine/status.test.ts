import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isLeasable, isParked, isRunStatus, isStepSettled, isTerminal, RUN_STATUSES } from "./status.ts";

describe("statuses", () => {
  it("classifies every run status", () => {
    const terminal = RUN_STATUSES.filter(isTerminal);
    assert.deepEqual(terminal, ["completed", "failed", "cancelled", "compensated", "timed_out"]);
    assert.deepEqual(RUN_STATUSES.filter(isParked), ["sleeping", "waiting"]);
    assert.deepEqual(RUN_STATUSES.filter(isLeasable), ["running", "cancelling", "compensating"]);
    assert.ok(isRunStatus("queued"));
    assert.ok(!isRunStatus("done"));
    assert.ok(isStepSettled("completed") && isStepSettled("compensated") && !isStepSettled("waiting"));
    assert.ok(isStepSettled("cancelled"), "a closed wait is never overwritten");
  });
});
