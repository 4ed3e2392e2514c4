import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validate, version } from "uuid";
import { newId, newRunId } from "./ids.ts";

describe("ids", () => {
  it("are valid UUIDv7s, unique and in creation order across many pool refills", () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => (i % 2 === 0 ? newRunId() : newId()));
    for (const id of ids.slice(0, 600)) {
      assert.ok(validate(id), id);
      assert.equal(version(id), 7);
    }
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
  });

  it("carry the current millisecond", () => {
    const before = Date.now();
    const id = newRunId();
    const ms = Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
    assert.ok(ms >= before && ms <= Date.now() + 1, `${ms} not in [${before}, now]`);
  });
});
