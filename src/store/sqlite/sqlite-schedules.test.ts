import { openTestSqlite, type TestStore } from "../../../tests/support/test-db.ts";
import { schedulesContract } from "../schedules.contract.ts";
import type { Store } from "../store.ts";

const open = new Map<Store, TestStore>();

schedulesContract("sqlite", {
  open: async (options) => {
    const t = await openTestSqlite(options);
    open.set(t.store, t);
    return t.store;
  },
  close: async (store) => {
    await open.get(store)?.close();
    open.delete(store);
  },
});
