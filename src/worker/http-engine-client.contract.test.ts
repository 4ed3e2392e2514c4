import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
async function openHttpWorkerSide(store: Store, clock: StoreOptions["clock"]): Promise<WorkerSide> {
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
    close: async () => {
      client.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
