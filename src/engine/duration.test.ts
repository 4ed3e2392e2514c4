import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import { formatDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it("parses units, compounds and plain milliseconds", () => {
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("5s"), 5000);
    assert.equal(parseDuration("1h30m"), 5_400_000);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("2d"), 172_800_000);
    assert.equal(parseDuration("1m 30s"), 90_000);
    assert.equal(parseDuration(42), 42);
    assert.equal(parseDuration("42"), 42);
  });

  it("rejects garbage with INVALID_DURATION naming the option", () => {
    for (const bad of ["", "abc", "5 parsecs", "1h-2m", "s"]) {
      assert.throws(
        () => parseDuration(bad, "timeout"),
        (e: unknown) => hasCode(e, "INVALID_DURATION") && (e as Error).message.includes('"timeout"'),
      );
    }
    assert.throws(
      () => parseDuration(-1),
      (e: unknown) => hasCode(e, "INVALID_DURATION"),
    );
    assert.throws(
      () => parseDuration(Number.NaN),
      (e: unknown) => hasCode(e, "INVALID_DURATION"),
    );
  });

  it("formats for humans", () => {
    assert.equal(formatDuration(450), "450ms");
    assert.equal(formatDuration(1500), "1.5s");
    assert.equal(formatDuration(90_000), "1m30s");
    assert.equal(formatDuration(3_600_000), "1h");
    assert.equal(formatDuration(5_400_000), "1h30m");
  });
});
