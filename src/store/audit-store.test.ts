import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { type TestStore, forEachStore } from "../../tests/support/test-db.ts";
import { Housekeeper } from "../server/housekeeper.ts";
import type { NewAuditRecord } from "./audit-store.ts";

const record = (over: Partial<NewAuditRecord>): NewAuditRecord => ({
  namespace: "team",
  actor: "tok_1",
  actorName: "ci",
  action: "startRun",
  method: "POST",
  route: "/v1/runs",
  target: {},
  requestId: "r",
  status: 201,
  outcome: "ok",
  ...over,
});

forEachStore("audit log", ({ open }) => {
  let db: TestStore;
  let now = 1_000_000;
  before(async () => {
    db = await open({ clock: () => now });
  });
  after(async () => {
    await db?.close();
  });

  it("lists newest first with filters and a cursor", async () => {
    const { audit } = db.store;
    await audit.appendAuditRecords({
      records: [
        record({ at: 10 }),
        record({ at: 20, action: "setSecret", target: { name: "API_KEY" } }),
        record({ at: 30, namespace: "other", actor: "tok_2", actorName: "ops" }),
        record({ at: 40, outcome: "FORBIDDEN", status: 403 }),
      ],
    });
    const all = await audit.listAuditRecords({ limit: 10 });
    assert.deepEqual(
      all.items.map((r) => r.at),
      [40, 30, 20, 10],
    );
    const team = await audit.listAuditRecords({ namespaces: ["team"], limit: 2 });
    assert.deepEqual(
      team.items.map((r) => r.at),
      [40, 20],
    );
    assert.ok(team.nextCursor);
    const next = await audit.listAuditRecords({ namespaces: ["team"], limit: 2, before: Number(team.nextCursor) });
    assert.deepEqual(
      next.items.map((r) => r.at),
      [10],
    );
    assert.equal(next.nextCursor, null);
    assert.deepEqual((await audit.listAuditRecords({ action: "setSecret", limit: 5 })).items[0]?.target, {
      name: "API_KEY",
    });
    assert.equal((await audit.listAuditRecords({ actor: "ops", limit: 5 })).items.length, 1);
    assert.equal((await audit.listAuditRecords({ since: 25, limit: 5 })).items.length, 2);
    await assert.rejects(audit.listAuditRecords({ limit: 0 }), /limit/);
  });

  it("housekeeping deletes records past the retention", async () => {
    now = 10_000_000;
    await db.store.audit.appendAuditRecords({ records: [record({ at: now - 10 })] });
    const keeper = new Housekeeper({ store: db.store, auditRetentionMs: 1000, clock: () => now });
    const result = await keeper.tick();
    assert.equal(result.auditDeleted, 4);
    assert.deepEqual(
      (await db.store.audit.listAuditRecords({ limit: 10 })).items.map((r) => r.at),
      [now - 10],
    );
  });
});
