import { openTestPostgres, postgresSkip, type TestStore } from "../../../tests/support/test-db.ts";
import { schedulesContract } from "../schedules.contract.ts";
import type { Store } from "../store.ts";

const open = new Map<Store, TestStore>();

schedulesContract("postgres", {
  skip: postgresSkip(),
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
