import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import { loadMasterKeyring } from "./master-key.ts";
import { hasSealedFields, isSealed, sealInputFields, unsealInputFields } from "./sealed-input.ts";

const keyring = () =>
  loadMasterKeyring({ dataDir: "/nonexistent", env: { KILN_MASTER_KEY: randomBytes(32).toString("hex") } });

describe("sealed input fields", () => {
  const ring = keyring();
  const input = { env: "prod", password: "hunter2", db: { token: { v: 1 }, host: "h" }, list: [1] };

  it("seals the listed fields (nested too) and opens them again", () => {
    const sealed = sealInputFields(ring, "ns", input, ["password", "db.token", "missing", "db.absent.deeper"]);
    const s = sealed as typeof input;
    assert.equal(s.env, "prod");
    assert.ok(isSealed(s.password) && isSealed(s.db.token));
    assert.equal(s.db.host, "h");
    assert.doesNotMatch(JSON.stringify(sealed), /hunter2/);
    assert.equal(hasSealedFields(sealed), true);
    assert.equal(hasSealedFields(input), false);
    assert.deepEqual(unsealInputFields(ring, "ns", sealed), input);
    assert.deepEqual(input.password, "hunter2", "the caller's input is not changed");
    // Sealing twice does not wrap a sealed value again.
    assert.deepEqual(unsealInputFields(ring, "ns", sealInputFields(ring, "ns", sealed, ["password"])), input);
  });

  it("leaves inputs that are not objects, and empty field lists, as they are", () => {
    assert.equal(sealInputFields(ring, "ns", "text", ["a"]), "text");
    assert.equal(sealInputFields(ring, "ns", input, []), input);
  });

  it("refuses a value copied to another namespace or field, or sealed with a key the server lacks", () => {
    const sealed = sealInputFields(ring, "ns", input, ["password"]) as Record<string, unknown>;
    assert.throws(
      () => unsealInputFields(ring, "other", sealed),
      (e) => hasCode(e, "INVALID_INPUT"),
    );
    assert.throws(
      () => unsealInputFields(ring, "ns", { renamed: sealed.password }),
      (e) => hasCode(e, "INVALID_INPUT") && /renamed/.test((e as Error).message),
    );
    assert.throws(
      () => unsealInputFields(keyring(), "ns", sealed),
      (e) => hasCode(e, "INVALID_CONFIG"),
    );
  });
});
