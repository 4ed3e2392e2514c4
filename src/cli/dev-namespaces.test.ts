import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openTestSqlite } from "../../tests/support/test-db.ts";
import { parseConfig } from "../config/load-config.ts";
import { sha256Hex } from "../store/sql-control.ts";
import { devNamespaces, devPort, provisionDevAccess } from "./dev-namespaces.ts";

const forge = (server: string) => parseConfig(`server: ${server}\n`, { env: {}, file: "forge.yaml" });

describe("kiln dev and the config's server section", () => {
  test("serves default, the config's namespace and --namespace", () => {
    assert.deepEqual(devNamespaces(forge("{ org_id: acme }"), undefined), ["default", "acme"]);
    assert.deepEqual(devNamespaces(forge("{ org_id: acme }"), "ops"), ["default", "acme", "ops"]);
  });

  test("binds the port of a local grpc_address unless --port is given", () => {
    assert.equal(devPort(forge('{ grpc_address: "localhost:9090" }'), undefined), 9090);
    assert.equal(devPort(forge('{ grpc_address: "localhost:9090" }'), "0"), 0);
    assert.equal(devPort(forge('{ grpc_address: "forge.example:9090" }'), undefined), 7700);
  });

  test("creates the namespaces and stores the config's token as worker and developer of its namespace", async () => {
    const db = await openTestSqlite();
    try {
      const config = forge('{ org_id: acme, worker_token: "forge-token-0123456789" }');
      await provisionDevAccess(db.store, { config, namespaces: devNamespaces(config, undefined) });
      assert.ok(await db.store.getNamespace({ name: "acme" }));
      const token = await db.store.findToken({ hash: sha256Hex("forge-token-0123456789") });
      assert.equal(token?.namespace, "acme");
      assert.deepEqual([token?.role, ...(token?.extraRoles ?? [])], ["worker", "developer"]);
      const { plaintext: admin } = await db.store.createToken({ name: "root", namespace: "*", role: "admin" });
      await provisionDevAccess(db.store, {
        config: forge(`{ org_id: acme, token: "${admin}" }`),
        namespaces: ["acme"],
      });
      const kept = await db.store.findToken({ hash: sha256Hex(admin) });
      assert.deepEqual([kept?.namespace, kept?.role], ["*", "admin"], "a token created here keeps its scope");
      const short = forge('{ org_id: acme, worker_token: "short" }');
      await assert.rejects(provisionDevAccess(db.store, { config: short, namespaces: ["acme"] }), {
        code: "INVALID_CONFIG",
      });
    } finally {
      await db.close();
    }
  });
});
