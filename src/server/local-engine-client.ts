import type { RegisterWorkerParams } from "../store/control-store.ts";
import type { Store } from "../store/store.ts";
import type { EngineClient } from "../engine/engine-client.ts";
import type { KilnApp } from "./app.ts";
import { instrumentEngineClient } from "./metrics.ts";

/**
 * The engine client of a worker in the server's own process (`kiln dev`): the store itself, with
 * the server's metrics (claim latency, step durations) and with its live feeds told at once about
 * every write, as the HTTP worker protocol does for remote workers.
 */
export function localEngineClient(store: Store, app: KilnApp): EngineClient {
  const client = instrumentEngineClient(store, app.deps.metrics);
  const { live } = app.deps;
  return {
    ...client,
    saveSteps: async (p) => {
      const results = await client.saveSteps(p);
      live.poke(p.steps.map((s) => s.runId));
      return results;
    },
    finishRuns: async (p) => {
      const results = await client.finishRuns(p);
      live.poke(p.items.map((i) => i.runId));
      return results;
    },
    updateRuns: async (p) => {
      const results = await client.updateRuns(p);
      live.poke(p.items.map((i) => i.runId));
      return results;
    },
    appendLogs: async (p) => {
      await client.appendLogs(p);
      live.poke(p.entries.map((e) => e.runId));
    },
  };
}

/**
 * Registers an in-process worker in the store and heartbeats it every `intervalMs` (default 10 s),
 * so `GET /v1/workers` and `GET /v1/tasks` show it like a remote one. Returns the function that
 * stops the heartbeat and unregisters.
 */
export async function registerLocalWorker(
  store: Pick<Store, "registerWorker" | "heartbeatWorker" | "unregisterWorker">,
  registration: Readonly<RegisterWorkerParams>,
  intervalMs = 10_000,
): Promise<() => Promise<void>> {
  await store.registerWorker(registration);
  const timer = setInterval(() => {
    store.heartbeatWorker({ namespace: registration.namespace, name: registration.name }).catch(() => {});
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await store.unregisterWorker({ namespace: registration.namespace, name: registration.name });
  };
}
