import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { postgresContractStores, sqliteContractStores } from "../../tests/support/test-db.ts";
import { silentLogger } from "../server/logger.ts";
import { startServer } from "../server/start-server.ts";
import { storeContract, type WorkerSide } from "../store/store.contract.ts";
import type { Store, StoreOptions } from "../store/store.ts";
import { HttpEngineClient } from "./http-engine-client.ts";

/**
 * The store contract with every worker-side verb sent by HttpEngineClient over real HTTP to a
 * listening server (createApp on the store under test), on SQLite and on PostgreSQL: a remote
 * worker must see exactly what an in-process one sees (compact claims expanded, chunked writes,
 * fencing answers), while the setup and the checks use the store directly.
 */
for (const [dialect, stores] of [
  ["sqlite", sqliteContractStores()],
  ["postgres", postgresContractStores()],
] as const) {
  const clocks = new Map<Store, StoreOptions["clock"]>();
  storeContract(`HttpEngineClient over HTTP on ${dialect}`, {
    skip: stores.skip,
    open: async (options) => {
      const store = await stores.open(options);
      clocks.set(store, options?.clock);
      return store;
    },
    close: async (store) => {
      clocks.delete(store);
      await stores.close(store);
    },
    openWorkerSide: (store) => openHttpWorkerSide(store, clocks.get(store)),
  });
}

/** A server on `store` (no housekeeping: the contract sweeps itself) and a worker client of it. */
async function openHttpWorkerSide(
  store: Store,
  clock: StoreOptions["clock"],
): Promise<WorkerSide & { readonly url: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "kiln-http-contract-"));
  const server = await startServer({
    store,
    dataDir,
    port: 0,
    logger: silentLogger(),
    housekeeping: false,
    rateLimit: false,
    ...(clock === undefined ? {} : { clock }),
  });
  // The server answers a worker only for namespaces that exist; the contract's data is in these.
  for (const name of ["contract", "other"]) await store.createNamespace({ name });
  const token = (await store.createToken({ name: "contract-worker", namespace: "*", role: "worker" })).plaintext;
  const client = new HttpEngineClient({ url: server.url, token, namespace: "contract", maxDelayMs: 50 });
  return {
    client,
    url: server.url,
    close: async () => {
      client.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * What only the HTTP client does, against a real server on each store: claiming ahead while a
 * worker loop is subscribed (and giving back what it did not take), and splitting a write larger
 * than one request may carry.
 */
for (const [dialect, stores] of [
  ["sqlite", sqliteContractStores()],
  ["postgres", postgresContractStores()],
] as const) {
  describe(`HttpEngineClient protocol over HTTP on ${dialect}`, { skip: stores.skip }, () => {
    const NS = "contract";
    let store: Store;
    let side: WorkerSide & { readonly url: string };
    let client: HttpEngineClient;
    let url: string;
    let token: string;

    beforeEach(async () => {
      store = await stores.open();
      side = await openHttpWorkerSide(store, undefined);
      client = side.client as HttpEngineClient;
      url = side.url;
      token = (await store.createToken({ name: "second-worker", namespace: "*", role: "worker" })).plaintext;
    });
    afterEach(async () => {
      await side.close();
      await stores.close(store);
    });

    const claim = (c: HttpEngineClient, limit: number) =>
      c.claimRuns({ namespace: NS, queues: ["default"], owner: "w1", limit, leaseMs: 60_000 });

    it("claims the next batches ahead for a subscribed loop, and gives back what it did not take", async () => {
      const tuned = new HttpEngineClient({
        url,
        token,
        namespace: NS,
        claimAheadWindowMs: 600_000,
        claimAheadBatches: 2,
        claimAheadHoldMs: 600_000,
      });
      const other = new HttpEngineClient({ url, token, namespace: NS, claimAhead: false });
      try {
        await store.startRuns({
          runs: Array.from({ length: 20 }, (_, i) => ({ namespace: NS, type: "task" as const, name: `t${i}` })),
        });
        const unsubscribe = await tuned.subscribe(() => {});
        const first = await claim(tuned, 5);
        const second = await claim(tuned, 5);
        // The second full batch of a loop that claims often started a claim of two more batches.
        const third = await claim(tuned, 5);
        const taken = [...first.runs, ...second.runs, ...third.runs].map((c) => c.run.id);
        assert.equal(taken.length, 15);
        assert.equal(new Set(taken).size, 15, "no run handed out twice");
        assert.equal((await claim(other, 20)).runs.length, 0, "the runs claimed ahead are leased");
        await unsubscribe();
        const givenBack = await claim(other, 20);
        assert.equal(givenBack.runs.length, 5, "the run claimed ahead and not taken went back to the queue");
        for (const c of givenBack.runs) assert.ok(!taken.includes(c.run.id));
      } finally {
        tuned.close();
        other.close();
      }
    });

    it("splits a write larger than one request into several, keeping every result in order", async () => {
      const run = (await store.startRun({ namespace: NS, type: "workflow", name: "wf" })).run;
      const [claimed] = (await claim(client, 1)).runs;
      assert.equal(claimed?.run.id, run.id);
      const steps = Array.from({ length: 10_001 }, (_, seq) => ({
        runId: run.id,
        leaseToken: claimed?.run.leaseToken ?? 0,
        name: `s${seq}`,
        seq,
        type: "step" as const,
        status: "completed" as const,
        output: seq,
      }));
      const results = await client.saveSteps({ steps });
      assert.equal(results.length, steps.length);
      assert.ok(results.every((r) => r.ok));
      const recorded = await store.listSteps({ runId: run.id });
      assert.equal(recorded.length, steps.length);
      assert.deepEqual(recorded.at(-1)?.output, 10_000);
    });
  });
}
