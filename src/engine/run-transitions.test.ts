import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  nextRunStatus,
  PARKED_RUN_STATUSES,
  READY_RUN_STATUSES,
  RUN_EVENTS,
  type RunEvent,
  statusesAllowing,
  statusesRefusing,
} from "./run-transitions.ts";
import { RUN_STATUSES, type RunStatus } from "./status.ts";

// Every (from, event) → to of the run state machine. Each row names the target from each status
// in this column order; "-" is a refused event.
const COLUMNS =
  "queued running sleeping waiting completed failed cancelling cancelled compensating compensated timed_out";
const TABLE: Record<RunEvent, string> = {
  claim: "running running running running - - cancelling - compensating - -",
  claim_compensable: "running running running running - - compensating - compensating - -",
  lease_expiry: "- running - - - - cancelling - compensating - -",
  finish_complete: "- completed - - - - completed - completed - -",
  finish_fail: "- failed - - - - failed - failed - -",
  finish_fail_compensate: "- compensating - - - - compensating - compensating - -",
  finish_retry: "- queued - - - - queued - queued - -",
  finish_park_sleeping: "- sleeping - - - - cancelling - compensating - -",
  finish_park_waiting: "- waiting - - - - cancelling - compensating - -",
  finish_park_woken: "- queued - - - - cancelling - compensating - -",
  finish_release: "- queued - - - - cancelling - compensating - -",
  finish_cancelled: "- cancelled - - - - cancelled - cancelled - -",
  finish_compensated: "- compensated - - - - compensated - compensated - -",
  finish_timed_out: "- timed_out - - - - timed_out - timed_out - -",
  finish_timed_out_compensable: "- compensating - - - - compensating - compensating - -",
  cancel: "cancelled cancelled cancelled cancelled - - cancelling - cancelled - -",
  cancel_compensable: "cancelling cancelling cancelling cancelling - - cancelling - cancelling - -",
  cancel_leased: "- cancelling - - - - cancelling - cancelling - -",
  retry: "- - - - - queued - queued - queued queued",
  timeout: "timed_out timed_out timed_out timed_out - - - - - - -",
  timeout_compensable: "compensating compensating compensating compensating - - - - - - -",
  wake: "- - queued queued - - - - - - -",
};

describe("run transitions", () => {
  it("the table's columns are every run status, its rows every event", () => {
    assert.deepEqual(COLUMNS.split(" "), [...RUN_STATUSES]);
    assert.deepEqual(Object.keys(TABLE).sort(), [...RUN_EVENTS].sort());
  });

  for (const event of RUN_EVENTS) {
    it(`${event}: every status goes where the table says, or is refused`, () => {
      const row = TABLE[event].split(" ");
      assert.equal(row.length, RUN_STATUSES.length);
      for (const [i, from] of RUN_STATUSES.entries()) {
        const want = row[i] === "-" ? undefined : (row[i] as RunStatus);
        assert.equal(nextRunStatus(from, event), want, `${from} on ${event}`);
      }
    });
  }

  it("no event moves a terminal run except retry", () => {
    for (const event of RUN_EVENTS) {
      if (event === "retry") continue;
      for (const from of ["completed", "failed", "cancelled", "compensated", "timed_out"] as const) {
        assert.equal(nextRunStatus(from, event), undefined, `${from} on ${event}`);
      }
    }
  });

  it("lists the statuses an event is allowed and refused from", () => {
    assert.deepEqual(statusesAllowing("retry"), ["failed", "cancelled", "compensated", "timed_out"]);
    assert.deepEqual(statusesAllowing("claim", "running"), ["queued", "running", "sleeping", "waiting"]);
    assert.deepEqual(statusesRefusing("timeout"), [
      "completed",
      "failed",
      "cancelling",
      "cancelled",
      "compensating",
      "compensated",
      "timed_out",
    ]);
  });

  it("the parked and ready lists are the statuses of the timer and claim indexes (migrations)", () => {
    // The partial indexes runs_timers and runs_ready name these lists; a query must repeat them
    // in this order for SQLite to use the index.
    assert.deepEqual(PARKED_RUN_STATUSES, ["sleeping", "waiting"]);
    assert.deepEqual(READY_RUN_STATUSES, ["queued", "cancelling", "compensating"]);
  });
});
