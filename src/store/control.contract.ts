import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { hasCode } from "../errors.ts";
import { sha256Hex } from "./sql-control.ts";
import type { StoreHarness } from "./store.contract.ts";
import type { Store } from "./store.ts";

const T0 = 5_000_000;

/** The control-plane contract (namespaces, tokens, secrets, deployments, workers) for every store. */
export function controlContract(name: string, harness: StoreHarness): void {
  describe(`Control store contract: ${name}`, { skip: harness.skip ?? false }, () => {
    let now = T0;
    let store: Store;
    const clock = () => now;

    beforeEach(async () => {
      now = T0;
      store = await harness.open({ clock });
    });
    afterEach(async () => {
      await harness.close(store);
    });

    describe("namespaces", () => {
      it("always has default, creates idempotently and lists by name", async () => {
        assert.deepEqual(
          (await store.listNamespaces()).map((n) => n.name),
          ["default"],
        );
        const first = await store.createNamespace({ name: "team-a", description: "Team A" });
        assert.equal(first.created, true);
        assert.deepEqual(first.namespace, { name: "team-a", description: "Team A", createdAt: T0 });
        now += 10;
        const again = await store.createNamespace({ name: "team-a" });
        assert.equal(again.created, false);
        assert.equal(again.namespace.createdAt, T0);
        await store.createNamespace({ name: "alpha" });
        assert.deepEqual(
          (await store.listNamespaces()).map((n) => n.name),
          ["alpha", "default", "team-a"],
        );
        assert.equal((await store.getNamespace({ name: "nope" })) ?? null, null);
        assert.equal((await store.getNamespace({ name: "default" }))?.name, "default");
      });

      it("rejects bad names, including the reserved *", async () => {
        for (const bad of ["*", "", "Upper", "has space", "-lead", "x".repeat(64)]) {
          await assert.rejects(store.createNamespace({ name: bad }), (e) => hasCode(e, "INVALID_INPUT"), bad);
        }
      });
    });

    describe("tokens", () => {
      it("creates a token whose plaintext is returned once and stored only as its hash", async () => {
        const { token, plaintext } = await store.createToken({ name: "ci", namespace: "default", role: "developer" });
        assert.match(plaintext, /^kiln_[A-Za-z0-9_-]{43}$/);
        assert.equal(token.prefix, plaintext.slice(0, 12));
        assert.deepEqual(
          { ...token, id: "x" },
          {
            id: "x",
            name: "ci",
            namespace: "default",
            role: "developer",
            prefix: token.prefix,
            createdAt: T0,
            lastUsedAt: null,
            revokedAt: null,
          },
        );
        assert.deepEqual(await store.findToken({ hash: sha256Hex(plaintext) }), token);
        assert.equal(await store.findToken({ hash: sha256Hex(`${plaintext}x`) }), undefined);
        assert.ok(!JSON.stringify(await store.listTokens({})).includes(plaintext));
      });

      it("lists by namespace, revokes (idempotently, within a namespace) and records use", async () => {
        const a = await store.createToken({ name: "a", namespace: "default", role: "viewer" });
        const b = await store.createToken({ name: "b", namespace: "*", role: "admin" });
        await store.createNamespace({ name: "other" });
        const c = await store.createToken({ name: "c", namespace: "other", role: "worker" });
        assert.deepEqual(
          (await store.listTokens({})).map((t) => t.name),
          ["a", "b", "c"],
        );
        assert.deepEqual(
          (await store.listTokens({ namespace: "default" })).map((t) => t.name),
          ["a"],
        );
        assert.deepEqual(
          (await store.listTokens({ namespace: "*" })).map((t) => t.name),
          ["b"],
        );
        await assert.rejects(store.revokeToken({ id: c.token.id, namespace: "default" }), (e) =>
          hasCode(e, "TOKEN_NOT_FOUND"),
        );
        now += 5;
        const revoked = await store.revokeToken({ id: a.token.id, namespace: "default" });
        assert.equal(revoked.revokedAt, T0 + 5);
        now += 5;
        assert.equal((await store.revokeToken({ id: a.token.id })).revokedAt, T0 + 5, "revoking again changes nothing");
        assert.equal((await store.findToken({ hash: sha256Hex(a.plaintext) }))?.revokedAt, T0 + 5);
        await assert.rejects(store.revokeToken({ id: "missing" }), (e) => hasCode(e, "TOKEN_NOT_FOUND"));
        await store.touchTokens({ ids: [b.token.id, b.token.id, c.token.id] });
        assert.equal((await store.findToken({ hash: sha256Hex(b.plaintext) }))?.lastUsedAt, T0 + 10);
      });

      it("imports a given plaintext as its hash, with extra roles, idempotently; never revives a revoked one", async () => {
        await store.createNamespace({ name: "acme" });
        const plaintext = "forge-dev-token-0123456789";
        const token = await store.importToken({
          name: "kiln dev config token",
          namespace: "acme",
          role: "worker",
          extraRoles: ["developer"],
          plaintext,
        });
        assert.equal(token.namespace, "acme");
        assert.equal(token.role, "worker");
        assert.deepEqual(token.extraRoles, ["developer"]);
        assert.deepEqual(await store.findToken({ hash: sha256Hex(plaintext) }), token);
        assert.ok(!JSON.stringify(await store.listTokens({})).includes(plaintext));
        const again = await store.importToken({ name: "renamed", namespace: "default", role: "viewer", plaintext });
        assert.equal(again.id, token.id, "the same plaintext is the same token");
        assert.equal(again.namespace, "default");
        assert.equal(again.extraRoles, undefined);
        assert.equal((await store.listTokens({})).length, 1);
        await assert.rejects(
          store.importToken({ name: "x", namespace: "acme", role: "worker", plaintext: "short" }),
          (e) => hasCode(e, "INVALID_INPUT"),
        );
        await assert.rejects(
          store.importToken({ name: "x", namespace: "acme", role: "worker", extraRoles: ["root" as never], plaintext }),
          (e) => hasCode(e, "INVALID_INPUT"),
        );
        await store.revokeToken({ id: token.id });
        await assert.rejects(store.importToken({ name: "x", namespace: "acme", role: "worker", plaintext }), (e) =>
          hasCode(e, "INVALID_INPUT"),
        );
        assert.notEqual((await store.findToken({ hash: sha256Hex(plaintext) }))?.revokedAt, null);
      });

      it("rejects unknown roles, empty names and bad namespaces", async () => {
        await assert.rejects(store.createToken({ name: "x", namespace: "default", role: "root" as never }), (e) =>
          hasCode(e, "INVALID_INPUT"),
        );
        await assert.rejects(store.createToken({ name: " ", namespace: "default", role: "viewer" }), (e) =>
          hasCode(e, "INVALID_INPUT"),
        );
        await assert.rejects(store.createToken({ name: "x", namespace: "Bad NS", role: "viewer" }), (e) =>
          hasCode(e, "INVALID_INPUT"),
        );
      });
    });

    describe("secrets", () => {
      const cipher = (n: string, keyId = "k1") => ({
        ciphertext: `ct-${n}`,
        iv: `iv-${n}`,
        authTag: `tag-${n}`,
        keyId,
      });

      it("puts, replaces, lists names only, gets by names and deletes, per namespace", async () => {
        const put = await store.putSecret({ namespace: "default", name: "API_TOKEN", ...cipher("1") });
        assert.equal(put.created, true);
        now += 10;
        const replaced = await store.putSecret({ namespace: "default", name: "API_TOKEN", ...cipher("2") });
        assert.equal(replaced.created, false);
        assert.deepEqual(replaced.secret, {
          namespace: "default",
          name: "API_TOKEN",
          keyId: "k1",
          createdAt: T0,
          updatedAt: T0 + 10,
        });
        await store.putSecret({ namespace: "other", name: "API_TOKEN", ...cipher("3") });
        await store.putSecret({ namespace: "default", name: "DB_PASS", ...cipher("4") });
        const listed = await store.listSecrets({ namespace: "default" });
        assert.deepEqual(
          listed.map((s) => s.name),
          ["API_TOKEN", "DB_PASS"],
        );
        assert.ok(!JSON.stringify(listed).includes("ct-"), "lists carry no ciphertext");
        const [got] = await store.getSecrets({ namespace: "default", names: ["API_TOKEN", "MISSING"] });
        assert.equal(got?.ciphertext, "ct-2");
        assert.equal((await store.getSecrets({ namespace: "other", names: ["API_TOKEN"] }))[0]?.ciphertext, "ct-3");
        assert.equal(await store.deleteSecret({ namespace: "default", name: "API_TOKEN" }), true);
        assert.equal(await store.deleteSecret({ namespace: "default", name: "API_TOKEN" }), false);
        assert.equal((await store.getSecrets({ namespace: "other", names: ["API_TOKEN"] })).length, 1);
        assert.equal((await store.listSecretRecords()).length, 2);
      });

      it("replaces ciphers only while the previous key id still holds", async () => {
        await store.putSecret({ namespace: "default", name: "A", ...cipher("a") });
        await store.putSecret({ namespace: "default", name: "B", ...cipher("b") });
        await store.putSecret({ namespace: "default", name: "B", ...cipher("b2", "k2") }); // concurrent set
        const n = await store.replaceSecretCiphers({
          items: [
            { namespace: "default", name: "A", ...cipher("a3", "k3"), previousKeyId: "k1" },
            { namespace: "default", name: "B", ...cipher("b3", "k3"), previousKeyId: "k1" },
          ],
        });
        assert.equal(n, 1);
        const records = await store.getSecrets({ namespace: "default", names: ["A", "B"] });
        assert.deepEqual(
          records.map((r) => [r.name, r.ciphertext, r.keyId]),
          [
            ["A", "ct-a3", "k3"],
            ["B", "ct-b2", "k2"],
          ],
        );
      });

      it("rejects names that config references could not use", async () => {
        for (const bad of ["1X", "has-dash", "", "a b"]) {
          await assert.rejects(store.putSecret({ namespace: "default", name: bad, ...cipher("x") }), (e) =>
            hasCode(e, "INVALID_INPUT"),
          );
        }
      });
    });

    describe("workflow deployments", () => {
      const deploy = (p: Partial<Parameters<Store["deployWorkflow"]>[0]> = {}) =>
        store.deployWorkflow({ namespace: "default", name: "etl", runtime: "node", source: "v1", ...p });

      it("numbers versions, hashes content and makes redeploying identical source a no-op", async () => {
        const first = await deploy();
        assert.equal(first.created, true);
        assert.equal(first.deployment.version, "1");
        assert.equal(first.deployment.contentHash, sha256Hex("v1"));
        const same = await deploy();
        assert.deepEqual(same, { deployment: first.deployment, created: false });
        now += 1;
        const second = await deploy({ source: "v2", description: "faster" });
        assert.equal(second.deployment.version, "2");
        assert.equal(second.deployment.description, "faster");
        const named = await deploy({ source: "v3", version: "2024.1" });
        assert.equal(named.deployment.version, "2024.1");
        const next = await deploy({ source: "v4" });
        assert.equal(next.deployment.version, "3", "the next integer after the highest integer version");
        assert.deepEqual(
          (await store.listWorkflowVersions({ namespace: "default", name: "etl" })).map((d) => d.version),
          ["3", "2024.1", "2", "1"],
        );
        assert.equal((await store.getWorkflow({ namespace: "default", name: "etl" }))?.source, "v4");
        assert.equal((await store.getWorkflow({ namespace: "default", name: "etl", version: "2" }))?.source, "v2");
        assert.equal(await store.getWorkflow({ namespace: "default", name: "etl", version: "9" }), undefined);
        assert.equal(await store.getWorkflow({ namespace: "other", name: "etl" }), undefined);
      });

      it("accepts an explicit existing version with the same source, rejects other source", async () => {
        await deploy({ version: "v1.0" });
        assert.equal((await deploy({ version: "v1.0" })).created, false);
        await assert.rejects(deploy({ version: "v1.0", source: "changed" }), (e) =>
          hasCode(e, "WORKFLOW_VERSION_EXISTS"),
        );
      });

      it("lists the latest version per name with the version count, paged by name", async () => {
        await deploy({ name: "b" });
        await deploy({ name: "b", source: "v2", runtime: "python" });
        await deploy({ name: "a", runtime: "flow" });
        await deploy({ name: "c" });
        await deploy({ name: "elsewhere", namespace: "other" });
        const page1 = await store.listWorkflows({ namespace: "default", limit: 2 });
        assert.deepEqual(
          page1.workflows.map((w) => [w.name, w.version, w.versions, w.runtime]),
          [
            ["a", "1", 1, "flow"],
            ["b", "2", 2, "python"],
          ],
        );
        assert.equal(page1.nextCursor, "b");
        const page2 = await store.listWorkflows({ namespace: "default", limit: 2, cursor: "b" });
        assert.deepEqual(
          page2.workflows.map((w) => w.name),
          ["c"],
        );
        assert.equal(page2.nextCursor, null);
      });

      it("validates name, version, runtime and source", async () => {
        for (const bad of [{ name: "has space" }, { version: "a/b" }, { runtime: "ruby" as never }, { source: "  " }]) {
          await assert.rejects(deploy(bad), (e) => hasCode(e, "INVALID_INPUT"), JSON.stringify(bad));
        }
      });

      it("gives concurrent deploys of one name distinct versions", async () => {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => deploy({ source: `s${i}` })));
        const versions = results.map((r) => r.deployment.version).sort((a, b) => Number(a) - Number(b));
        assert.deepEqual(versions, ["1", "2", "3", "4", "5", "6", "7", "8"]);
      });
    });

    describe("workers", () => {
      const register = (name: string, namespace = "default") =>
        store.registerWorker({
          namespace,
          name,
          version: "0.1.0",
          queues: ["default", "gpu"],
          kinds: [{ kind: "backup", settings: { timeoutMs: 1000 } }],
          workflows: ["etl"],
          ...(namespace === "default" ? { concurrency: 4 } : {}),
        });

      it("registers, heartbeats, re-registers, lists, unregisters and prunes", async () => {
        const w = await register("w1");
        assert.deepEqual(w, {
          namespace: "default",
          name: "w1",
          version: "0.1.0",
          queues: ["default", "gpu"],
          kinds: [{ kind: "backup", settings: { timeoutMs: 1000 } }],
          workflows: ["etl"],
          concurrency: 4,
          startedAt: T0,
          lastHeartbeatAt: T0,
        });
        await register("w2", "other");
        assert.equal((await store.listWorkers({ namespace: "other" }))[0]?.concurrency, null, "not reported");
        now += 100;
        assert.equal(await store.heartbeatWorker({ namespace: "default", name: "w1" }), true);
        assert.equal(await store.heartbeatWorker({ namespace: "default", name: "ghost" }), false);
        const [listed] = await store.listWorkers({ namespace: "default" });
        assert.equal(listed?.lastHeartbeatAt, T0 + 100);
        assert.equal(listed?.concurrency, 4);
        assert.equal(listed?.startedAt, T0);
        assert.equal((await store.listWorkers({})).length, 2);
        now += 100;
        const again = await register("w1");
        assert.equal(again.startedAt, T0 + 200, "re-registering is a restart");
        assert.equal(await store.pruneWorkers({ heartbeatBefore: T0 + 150 }), 1, "w2 went quiet");
        assert.equal(await store.unregisterWorker({ namespace: "default", name: "w1" }), true);
        assert.equal((await store.listWorkers({})).length, 0);
      });

      it("with releaseLeases, expires the leases held under its name (only) so they are claimed at once", async () => {
        const claimAs = async (owner: string, namespace = "default") => {
          await store.startRun({ namespace, type: "task", name: "t" });
          const { runs } = await store.claimRuns({ namespace, queues: ["default"], owner, limit: 1, leaseMs: 30_000 });
          assert.equal(runs.length, 1);
          return runs[0]?.run.id as string;
        };
        const mine = await claimAs("w1");
        const other = await claimAs("w2");
        const elsewhere = await claimAs("w1", "team");
        await register("w1");
        const again = () =>
          store.claimRuns({ namespace: "default", queues: ["default"], owner: "w1", limit: 10, leaseMs: 30_000 });
        assert.equal((await again()).runs.length, 0, "a plain registration releases nothing");
        now += 10;
        await store.registerWorker({
          namespace: "default",
          name: "w1",
          version: "0.1.0",
          queues: ["default"],
          kinds: [],
          releaseLeases: true,
        });
        const reclaimed = await again();
        assert.deepEqual(
          reclaimed.runs.map((r) => [r.run.id, r.run.leaseToken]),
          [[mine, 2]],
        );
        assert.equal((await store.getRun({ namespace: "default", id: other }))?.leaseOwner, "w2");
        const kept = await store.getRun({ namespace: "team", id: elsewhere });
        assert.equal(kept?.leaseExpiresAt, T0 + 30_000, "another namespace's lease is kept");
      });
    });

    describe("observability and access checks", () => {
      it("counts runs by namespace, queue and status, and maps run ids to namespaces", async () => {
        const a = await store.startRun({ namespace: "default", type: "task", name: "t" });
        await store.startRun({ namespace: "default", type: "task", name: "t", queue: "q2" });
        await store.startRun({ namespace: "default", type: "task", name: "t", queue: "q2" });
        const b = await store.startRun({ namespace: "other", type: "workflow", name: "w" });
        await store.cancelRun({ namespace: "other", id: b.run.id });
        assert.deepEqual(await store.countRuns({}), [
          { namespace: "default", queue: "default", status: "queued", count: 1 },
          { namespace: "default", queue: "q2", status: "queued", count: 2 },
          { namespace: "other", queue: "default", status: "cancelled", count: 1 },
        ]);
        assert.equal((await store.countRuns({ namespace: "other" })).length, 1);
        const map = await store.getRunNamespaces({ ids: [a.run.id, b.run.id, "missing"] });
        assert.deepEqual(
          [...map.entries()].sort(),
          [
            [a.run.id, "default"],
            [b.run.id, "other"],
          ].sort(),
        );
      });
    });
  });
}
