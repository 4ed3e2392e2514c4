import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { z } from "zod";
import { FinishItem, isPlainFinishBody } from "./worker-schemas.ts";

/** The finish route's schema, as worker-protocol.ts declares it (without the optional claim). */
const FinishBody = z.strictObject({ items: z.array(FinishItem).max(10_000) });

const lease = { runId: "01a2", leaseToken: 3 };

describe("the finish body's fast check", () => {
  it("accepts drain bodies exactly as the schema parses them", () => {
    const bodies = [
      { items: [] },
      { items: [{ ...lease, outcome: "complete" }] },
      { items: [{ ...lease, outcome: "complete", output: { a: [1, null] } }] },
      {
        items: [
          { ...lease, outcome: "complete", output: null },
          { ...lease, outcome: "release" },
        ],
      },
      { items: [{ runId: "x".repeat(100), leaseToken: 0, outcome: "complete" }] },
    ];
    for (const body of bodies) {
      const wire = JSON.parse(JSON.stringify(body));
      assert.equal(isPlainFinishBody(wire), true, JSON.stringify(body));
      assert.deepEqual(FinishBody.parse(wire), wire);
    }
  });

  it("leaves everything else to the schema, and accepts nothing the schema rejects", () => {
    const bodies: unknown[] = [
      null,
      [],
      "items",
      {},
      { items: {} },
      { items: [null] },
      { items: [[]] },
      { items: [{ ...lease, outcome: "complete", extra: 1 }] },
      { items: [{ ...lease, outcome: "release", output: 1 }] },
      { items: [{ ...lease, outcome: "complete" }], other: 1 },
      { items: [{ runId: "", leaseToken: 1, outcome: "complete" }] },
      { items: [{ runId: "x".repeat(101), leaseToken: 1, outcome: "complete" }] },
      { items: [{ runId: 5, leaseToken: 1, outcome: "complete" }] },
      { items: [{ runId: "r", leaseToken: -1, outcome: "complete" }] },
      { items: [{ runId: "r", leaseToken: 1.5, outcome: "complete" }] },
      { items: [{ runId: "r", leaseToken: 2 ** 60, outcome: "complete" }] },
      { items: [{ runId: "r", leaseToken: "1", outcome: "complete" }] },
      { items: [{ runId: "r", outcome: "complete" }] },
      { items: [{ ...lease, outcome: "done" }] },
      { items: [{ ...lease, outcome: "fail", error: { code: "X", message: "m" } }] },
      { items: [{ ...lease, outcome: "complete" }], claim: { owner: "w", limit: 1 } },
      { items: Array.from({ length: 10_001 }, () => ({ ...lease, outcome: "complete" })) },
      JSON.parse('{"items":[{"runId":"r","leaseToken":1,"outcome":"complete","__proto__":{}}]}'),
    ];
    for (const body of bodies) {
      if (isPlainFinishBody(body)) assert.fail(`the fast check accepted ${JSON.stringify(body)?.slice(0, 80)}`);
    }
    // The schema still decides the ones it accepts (a fail outcome, a claim) and rejects the rest.
    assert.equal(FinishBody.safeParse(bodies[19]).success, true);
    assert.equal(FinishBody.safeParse(bodies[7]).success, false);
  });
});
