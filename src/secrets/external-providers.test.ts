import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isKilnError } from "../errors.ts";
import { createAwsSecretsProvider } from "./aws-secrets-manager.ts";
import { createHashicorpVaultProvider } from "./hashicorp-vault.ts";
import {
  type SecretManagerStub,
  startAwsSecretsStub,
  startVaultStub,
} from "../../tests/support/secret-manager-stubs.ts";
import { createSecretResolver } from "./secret-resolver.ts";

const code = (expected: string) => (error: unknown) => isKilnError(error) && error.code === expected;

describe("HashiCorp Vault provider (KV v2) against a local stand-in", () => {
  let vault: SecretManagerStub & { revokeTokens(): void };
  before(async () => {
    vault = await startVaultStub({
      secrets: { "secret/app": { password: "pa55", port: 5432 }, "kv/single": { token: "only" } },
      rootToken: "root-token",
      roleId: "role-1",
      secretId: "secret-1",
    });
  });
  after(() => vault.close());

  test("token auth reads a field, a one-key secret without a field, JSON for non-strings", async () => {
    const read = createHashicorpVaultProvider({ endpoint: vault.url, token: "root-token" });
    assert.equal(await read("secret/app#password"), "pa55");
    assert.equal(await read("secret/app#port"), "5432");
    assert.equal(await read("kv/single"), "only");
    assert.ok(vault.requests.includes("GET /v1/secret/data/app"));
  });

  test("AppRole logs in once, and again when the token expires", async () => {
    vault.requests.length = 0;
    const read = createHashicorpVaultProvider({ endpoint: vault.url, roleId: "role-1", secretId: "secret-1" });
    assert.equal(await read("secret/app#password"), "pa55");
    assert.equal(await read("kv/single"), "only");
    vault.revokeTokens();
    assert.equal(await read("secret/app#password"), "pa55");
    assert.equal(vault.requests.filter((r) => r === "POST /v1/auth/approle/login").length, 2);
  });

  test("errors: missing secret or key, bad login, bad token, nothing listening", async () => {
    const read = createHashicorpVaultProvider({ endpoint: vault.url, token: "root-token" });
    await assert.rejects(read("secret/nope#x"), code("SECRET_NOT_FOUND"));
    await assert.rejects(read("secret/app#nokey"), /no key nokey/);
    await assert.rejects(read("secret/app"), /holds 2 keys .*secret\/app#KEY/);
    const badRole = createHashicorpVaultProvider({ endpoint: vault.url, roleId: "role-1", secretId: "wrong" });
    await assert.rejects(badRole("secret/app#password"), code("SECRET_PROVIDER_UNAVAILABLE"));
    const badToken = createHashicorpVaultProvider({ endpoint: vault.url, token: "wrong" });
    await assert.rejects(badToken("secret/app#password"), /permission denied/);
    const down = createHashicorpVaultProvider({ endpoint: "http://127.0.0.1:1", token: "t" });
    await assert.rejects(down("secret/app#password"), code("SECRET_PROVIDER_UNAVAILABLE"));
  });
});

describe("AWS Secrets Manager provider against a local stand-in", () => {
  let aws: SecretManagerStub;
  const saved = { ...process.env };
  before(async () => {
    aws = await startAwsSecretsStub({ "prod/db": '{"username":"app","password":"s3cret"}', "plain/token": "tok-1" });
    // The SDK signs every request: any credentials do for the stand-in.
    process.env.AWS_ACCESS_KEY_ID = "AKIDTEST";
    process.env.AWS_SECRET_ACCESS_KEY = "test-secret";
  });
  after(async () => {
    process.env.AWS_ACCESS_KEY_ID = saved.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = saved.AWS_SECRET_ACCESS_KEY;
    if (saved.AWS_ACCESS_KEY_ID === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    if (saved.AWS_SECRET_ACCESS_KEY === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    await aws.close();
  });

  test("reads a whole secret string, or one key of a JSON secret", async () => {
    const read = createAwsSecretsProvider({ region: "us-east-1", endpoint: aws.url });
    assert.equal(await read("plain/token"), "tok-1");
    assert.equal(await read("prod/db#password"), "s3cret");
    assert.ok(aws.requests.includes("secretsmanager.GetSecretValue prod/db"));
    await assert.rejects(read("missing"), code("SECRET_NOT_FOUND"));
    await assert.rejects(read("plain/token#x"), /not a JSON object/);
  });

  test("the resolver reaches both managers by reference, with settings from the environment", async () => {
    const vault = await startVaultStub({ secrets: { "secret/app": { password: "pa55" } }, rootToken: "root" });
    try {
      const resolver = createSecretResolver({
        env: { VAULT_ADDR: vault.url, VAULT_TOKEN: "root", AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: aws.url },
      });
      assert.deepEqual(await resolver.resolveSecrets(["hcvault:secret/app#password", "aws:prod/db#username"]), {
        "hcvault:secret/app#password": "pa55",
        "aws:prod/db#username": "app",
      });
      const unset = createSecretResolver({ env: {} });
      await assert.rejects(unset.resolveSecret("hcvault:secret/app#password"), /set VAULT_ADDR/);
    } finally {
      await vault.close();
    }
  });
});
