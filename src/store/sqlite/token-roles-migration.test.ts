import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { sha256Hex } from "../sql-control.ts";
import { SqliteStore } from "./sqlite-store.ts";

test("migration 11 upgrades an existing database: its tokens keep working, with no extra roles", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-migration-11-"));
  try {
    const file = join(dir, "kiln.db");
    await (await SqliteStore.open(file)).close();
    // Take the file back to the schema before migration 11, holding one token.
    const raw = new Database(file);
    raw.exec("ALTER TABLE api_tokens DROP COLUMN extra_roles; DELETE FROM schema_migrations WHERE version = 11");
    raw
      .prepare(
        "INSERT INTO api_tokens (id, name, namespace, role, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      )
      .run("t1", "old", "default", "viewer", sha256Hex("kiln_old_token_plaintext"), "kiln_old_tok", 1);
    raw.close();
    const store = await SqliteStore.open(file);
    try {
      const token = await store.findToken({ hash: sha256Hex("kiln_old_token_plaintext") });
      assert.equal(token?.role, "viewer");
      assert.equal(token?.extraRoles, undefined);
      await store.createNamespace({ name: "acme" });
      const imported = await store.importToken({
        name: "dev",
        namespace: "acme",
        role: "worker",
        extraRoles: ["developer"],
        plaintext: "forge-token-0123456789",
      });
      assert.deepEqual(imported.extraRoles, ["developer"]);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
