import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import Database from "better-sqlite3";
import { sqliteContractStores } from "../../../tests/support/test-db.ts";
import { accountsContract } from "../accounts.contract.ts";
import { SqliteStore } from "./sqlite-store.ts";

accountsContract("sqlite", sqliteContractStores());

describe("migration 14 (accounts)", () => {
  it("upgrades a database made before it, keeping its tokens", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-accounts-"));
    try {
      const path = join(dir, "kiln.db");
      const first = await SqliteStore.open(path);
      const { token } = await first.createToken({ name: "ci", namespace: "default", role: "viewer" });
      await first.close();
      // Take the database back to before migration 14, as an older Kiln left it.
      const db = new Database(path);
      db.exec("DROP TABLE account_sessions");
      db.exec("DROP TABLE accounts");
      db.exec("DELETE FROM schema_migrations WHERE version = 14");
      db.close();
      const upgraded = await SqliteStore.open(path);
      assert.equal((await upgraded.listTokens({})).find((t) => t.id === token.id)?.name, "ci");
      assert.equal(await upgraded.accounts.hasAccounts(), false);
      await upgraded.accounts.createAccount({ name: "ann", namespace: "default", role: "viewer", passwordHash: "h" });
      assert.equal(await upgraded.accounts.hasAccounts(), true);
      await upgraded.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
