import { openTestSqlite, type TestStore } from "../../../tests/support/test-db.ts";
import type { Store } from "../store.ts";
import { controlContract } from "../control.contract.ts";

const open = new Map<Store, TestStore>();

controlContract("sqlite", {
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
