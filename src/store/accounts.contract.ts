import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import type { StoreHarness } from "./store.contract.ts";
import type { Store } from "./store.ts";

const T0 = 9_000_000;

/** The account contract (accounts, password hashes, UI sessions) for every store. */
export function accountsContract(name: string, harness: StoreHarness): void {
  describe(`Account store contract: ${name}`, { skip: harness.skip ?? false }, () => {
    let now = T0;
    let store: Store;
    beforeEach(async () => {
      now = T0;
      store = await harness.open({ clock: () => now });
    });
    afterEach(async () => {
      await harness.close(store);
    });

    const add = (account: string, role: "admin" | "developer" | "viewer" = "viewer", namespace = "default") =>
      store.accounts.createAccount({ name: account, role, namespace, passwordHash: `hash-of-${account}` });

    it("creates, reads, lists (without hashes) and refuses a taken name", async () => {
      assert.equal(await store.accounts.hasAccounts(), false);
      const ann = await add("ann", "admin", "*");
      assert.deepEqual(ann, {
        name: "ann",
        namespace: "*",
        role: "admin",
        createdAt: T0,
        updatedAt: T0,
        lastLoginAt: null,
      });
      await add("bob");
      assert.equal(await store.accounts.hasAccounts(), true);
      assert.equal((await store.accounts.getAccount({ name: "ann" }))?.passwordHash, "hash-of-ann");
      assert.equal(await store.accounts.getAccount({ name: "nobody" }), undefined);
      const listed = await store.accounts.listAccounts();
      assert.deepEqual(
        listed.map((a) => a.name),
        ["ann", "bob"],
      );
      assert.ok(
        listed.every((a) => !("passwordHash" in a)),
        "a list never carries password hashes",
      );
      await assert.rejects(add("ann"), (e) => hasCode(e, "ACCOUNT_EXISTS"));
      await assert.rejects(add("bad name"), (e) => hasCode(e, "INVALID_INPUT"));
    });

    it("changes a password and ends the account's sessions", async () => {
      await add("ann");
      await add("bob");
      const annSession = await store.accounts.createAccountSession({ account: "ann", ttlMs: 60_000 });
      const bobSession = await store.accounts.createAccountSession({ account: "bob", ttlMs: 60_000 });
      assert.equal(await store.accounts.findAccountSession({ plaintext: annSession }), "ann");
      now += 1000;
      const changed = await store.accounts.setAccountPassword({ name: "ann", passwordHash: "new" });
      assert.equal(changed.updatedAt, T0 + 1000);
      assert.equal((await store.accounts.getAccount({ name: "ann" }))?.passwordHash, "new");
      assert.equal(await store.accounts.findAccountSession({ plaintext: annSession }), undefined);
      assert.equal(await store.accounts.findAccountSession({ plaintext: bobSession }), "bob", "others' stay");
      await assert.rejects(store.accounts.setAccountPassword({ name: "nobody", passwordHash: "x" }), (e) =>
        hasCode(e, "ACCOUNT_NOT_FOUND"),
      );
    });

    it("expires and ends sessions; a deleted account loses them", async () => {
      await add("ann");
      const session = await store.accounts.createAccountSession({ account: "ann", ttlMs: 60_000 });
      assert.ok(session.startsWith("as."));
      const second = await store.accounts.createAccountSession({ account: "ann", ttlMs: 60_000 });
      await store.accounts.deleteAccountSession({ plaintext: second });
      assert.equal(await store.accounts.findAccountSession({ plaintext: second }), undefined, "signed out");
      now += 60_000;
      assert.equal(await store.accounts.findAccountSession({ plaintext: session }), undefined, "expired");
      const third = await store.accounts.createAccountSession({ account: "ann", ttlMs: 60_000 });
      await store.accounts.touchAccount({ name: "ann" });
      assert.equal((await store.accounts.getAccount({ name: "ann" }))?.lastLoginAt, now);
      assert.equal(await store.accounts.deleteAccount({ name: "ann" }), true);
      assert.equal(await store.accounts.deleteAccount({ name: "ann" }), false);
      assert.equal(await store.accounts.findAccountSession({ plaintext: third }), undefined);
    });
  });
}
