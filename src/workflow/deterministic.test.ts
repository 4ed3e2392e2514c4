import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seededRandom, uuidFrom } from "./deterministic.ts";

describe("deterministic randomness", () => {
  it("repeats the same sequence for the same seed and differs across seeds", () => {
    const a = seededRandom("run-1");
    const b = seededRandom("run-1");
    const c = seededRandom("run-2");
    const seqA = [a(), a(), a()];
    assert.deepEqual(seqA, [b(), b(), b()]);
    assert.notDeepEqual(seqA, [c(), c(), c()]);
    for (const x of seqA) assert.ok(x >= 0 && x < 1);
  });

  it("makes v4-shaped uuids", () => {
    const id = uuidFrom(seededRandom("x"));
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(id, uuidFrom(seededRandom("x")));
  });
});
