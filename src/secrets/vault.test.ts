import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { forEachStore, type TestStore } from "../../tests/support/test-db.ts";
import { hasCode } from "../errors.ts";
import { loadMasterKeyring, MASTER_KEY_FILE, masterKeyId } from "./master-key.ts";
import { SecretVault } from "./vault.ts";

forEachStore("secret vault", ({ open }) => {
  let db: TestStore;
  let dir: string;
  // A fresh store per test: rotation decrypts every secret, so other tests' keys must not be there.
  beforeEach(async () => {
    db = await open();
    dir = mkdtempSync(join(tmpdir(), "kiln-vault-"));
  });
  afterEach(async () => {
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("generates a 0600 key file, encrypts at rest and decrypts per namespace", async () => {
    const vault = SecretVault.open(db.store, { dataDir: join(dir, "a"), env: {} });
    const file = join(dir, "a", MASTER_KEY_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await vault.set({ namespace: "default", name: "API_TOKEN", value: "s3cr3t-value" });
    await vault.set({ namespace: "other", name: "API_TOKEN", value: "other-value" });
    const [record] = await db.store.getSecrets({ namespace: "default", names: ["API_TOKEN"] });
    assert.ok(record);
    assert.ok(!JSON.stringify(record).includes("s3cr3t"), "no plaintext at rest");
    assert.equal(record.keyId, vault.keyId);
    assert.deepEqual(await vault.getValues({ namespace: "default", names: ["API_TOKEN", "MISSING"] }), {
      API_TOKEN: "s3cr3t-value",
    });
    assert.deepEqual(await vault.getValues({ namespace: "other", names: ["API_TOKEN"] }), {
      API_TOKEN: "other-value",
    });
    assert.deepEqual(
      (await vault.list({ namespace: "default" })).map((s) => s.name),
      ["API_TOKEN"],
    );
    // The same key file opens the same keyring.
    const again = SecretVault.open(db.store, { dataDir: join(dir, "a"), env: {} });
    assert.equal(again.keyId, vault.keyId);
    await vault.delete({ namespace: "other", name: "API_TOKEN" });
    await assert.rejects(vault.delete({ namespace: "other", name: "API_TOKEN" }), (e) =>
      hasCode(e, "SECRET_NOT_FOUND"),
    );
  });

  it("refuses a ciphertext moved to another namespace (bound by AAD)", async () => {
    const vault = SecretVault.open(db.store, { dataDir: join(dir, "b"), env: {} });
    await vault.set({ namespace: "aad1", name: "X", value: "v" });
    const [r] = await db.store.getSecrets({ namespace: "aad1", names: ["X"] });
    assert.ok(r);
    await db.store.putSecret({ ...r, namespace: "aad2" });
    await assert.rejects(vault.getValues({ namespace: "aad2", names: ["X"] }), /altered/);
  });

  it("rotates a key file: new key id, every secret re-encrypted, old values intact", async () => {
    const dataDir = join(dir, "c");
    const vault = SecretVault.open(db.store, { dataDir, env: {} });
    await vault.set({ namespace: "rot", name: "A", value: "alpha" });
    await vault.set({ namespace: "rot", name: "B", value: "beta" });
    const oldId = vault.keyId;
    const result = await vault.rotateKey();
    assert.notEqual(result.keyId, oldId);
    assert.ok(result.reencrypted >= 2);
    for (const r of await db.store.getSecrets({ namespace: "rot", names: ["A", "B"] })) {
      assert.equal(r.keyId, result.keyId);
    }
    // A restarted server reads the rotated key file.
    const reopened = SecretVault.open(db.store, { dataDir, env: {} });
    assert.equal(reopened.keyId, result.keyId);
    assert.deepEqual(await reopened.getValues({ namespace: "rot", names: ["A", "B"] }), { A: "alpha", B: "beta" });
    assert.equal(readFileSync(join(dataDir, MASTER_KEY_FILE), "utf8").trim().split("\n").length, 2);
  });

  it("rotates to a new KILN_MASTER_KEY given first, and says how when there is none", async () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const v1 = SecretVault.open(db.store, { dataDir: dir, env: { KILN_MASTER_KEY: k1.toString("base64") } });
    assert.equal(v1.keyId, masterKeyId(k1));
    await v1.set({ namespace: "envrot", name: "S", value: "env-secret" });
    const single = SecretVault.open(db.store, { dataDir: dir, env: { KILN_MASTER_KEY: k1.toString("hex") } });
    await assert.rejects(single.rotateKey(), /KILN_MASTER_KEY=NEW_KEY,OLD_KEY/);
    const both = SecretVault.open(db.store, {
      dataDir: dir,
      env: { KILN_MASTER_KEY: `${k2.toString("base64url")},${k1.toString("base64")}` },
    });
    const result = await both.rotateKey();
    assert.deepEqual(result, { keyId: masterKeyId(k2), reencrypted: 1 });
    const onlyNew = SecretVault.open(db.store, { dataDir: dir, env: { KILN_MASTER_KEY: k2.toString("hex") } });
    assert.deepEqual(await onlyNew.getValues({ namespace: "envrot", names: ["S"] }), { S: "env-secret" });
  });
});

describe("master keys", () => {
  it("rejects a key of the wrong size with a message that says how to make one", () => {
    assert.throws(
      () => loadMasterKeyring({ dataDir: "/nonexistent", env: { KILN_MASTER_KEY: "too-short" } }),
      /openssl rand -base64 32/,
    );
  });

  it("warns about a key file readable by others", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-key-"));
    try {
      loadMasterKeyring({ dataDir: dir, env: {} });
      const { chmodSync } = await import("node:fs");
      chmodSync(join(dir, MASTER_KEY_FILE), 0o644);
      const ring = loadMasterKeyring({ dataDir: dir, env: {} });
      assert.match(ring.warnings[0] ?? "", /chmod 600/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
