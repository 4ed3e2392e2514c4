import assert from "node:assert/strict";
import { createServer } from "node:net";
import pg from "pg";
import { describe, it } from "node:test";
import { openTestPostgres, postgresSkip, type TestStore } from "../../../tests/support/test-db.ts";
import { hasCode } from "../../errors.ts";
import type { Store } from "../store.ts";
import { storeContract } from "../store.contract.ts";
import { PostgresStore } from "./postgres-store.ts";

const open = new Map<Store, TestStore>();
const skip = postgresSkip();

storeContract("postgres", {
  skip,
  open: async (options) => {
    const t = await openTestPostgres(options);
    open.set(t.store, t);
    return t.store;
  },
  close: async (store) => {
    await open.get(store)?.close();
    open.delete(store);
  },
  // A second store instance on the same schema, as another server would open.
  openSibling: async (store) => {
    const t = open.get(store);
    if (!t) throw new Error("unknown store");
    return t.openSibling();
  },
});

describe("PostgresStore.open", () => {
  it("names the server but not the password when it cannot connect", async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : 1));
      });
    });
    const url = `postgres://kiln:s3cret-pw@127.0.0.1:${port}/kiln`;
    await assert.rejects(PostgresStore.open({ connectionString: url }), (e) => {
      assert.ok(hasCode(e, "STORE_UNAVAILABLE"));
      assert.match((e as Error).message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch((e as Error).message, /s3cret-pw/);
      return true;
    });
  });

  it("refuses a schema name that is not a plain identifier", async () => {
    await assert.rejects(PostgresStore.open({ connectionString: "postgres://x@127.0.0.1/x", schema: "a; drop" }), (e) =>
      hasCode(e, "INVALID_CONFIG"),
    );
  });

  it("migrates once when many servers start together", { skip }, async () => {
    const t = await openTestPostgres();
    try {
      const more = await Promise.all([t.openSibling(), t.openSibling(), t.openSibling()]);
      const { run } = await more[0]!.startRun({ namespace: "ns", type: "task", name: "t" });
      assert.equal((await t.store.getRun({ namespace: "ns", id: run.id }))?.id, run.id);
    } finally {
      await t.close();
    }
  });

  it("listens again after its LISTEN connection is dropped", { skip }, async () => {
    const t = await openTestPostgres();
    const admin = new pg.Client({ connectionString: process.env.KILN_TEST_DATABASE_URL });
    await admin.connect();
    try {
      const listener = await t.openSibling();
      const seen: string[] = [];
      const unsubscribe = await listener.subscribe((n) => seen.push(n.queue));
      const { rows } = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
        [`kiln-listen/${t.schema}`],
      );
      assert.equal(rows.length, 1);
      await admin.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
      const deadline = Date.now() + 10_000;
      while (!seen.includes("after") && Date.now() < deadline) {
        await t.store.startRun({ namespace: "ns", type: "task", name: "t", queue: "after" });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(seen.includes("after"), "a notification arrived after the reconnect");
      await unsubscribe();
    } finally {
      await admin.end();
      await t.close();
    }
  });
});
