import { openTestSqlite, type TestStore } from "../../../tests/support/test-db.ts";
import type { Store } from "../store.ts";
import { storeContract } from "../store.contract.ts";

const open = new Map<Store, TestStore>();

storeContract("sqlite", {
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
