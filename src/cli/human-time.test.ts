import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { humanDuration, timeAgo } from "./human-time.ts";

describe("humanDuration", () => {
  it("uses the largest unit that keeps the number short", () => {
    assert.equal(humanDuration(850), "850 ms");
    assert.equal(humanDuration(1234), "1.2 s");
    assert.equal(humanDuration(95_000), "1 min 35 s");
    assert.equal(humanDuration(3 * 3_600_000 + 60_000), "3 h 1 min");
    assert.equal(humanDuration(2 * 86_400_000), "2 d");
  });
});

describe("timeAgo", () => {
  const now = Date.UTC(2026, 11, 5, 12);
  it("says how long ago, or how far ahead, in one unit", () => {
    assert.equal(timeAgo(now - 1000, now), "just now");
    assert.equal(timeAgo(now - 42_000, now), "42 s ago");
    assert.equal(timeAgo(now - 3 * 60_000 - 10_000, now), "3 min ago");
    assert.equal(timeAgo(now + 2 * 3_600_000, now), "in 2 h");
    assert.equal(timeAgo(now - 3 * 86_400_000, now), "3 d ago");
  });
  it("gives the date beyond a week", () => {
    assert.equal(timeAgo(Date.UTC(2026, 0, 2), now), "2026-01-02");
  });
});
