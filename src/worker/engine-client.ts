import type { EngineClient } from "../engine/engine-client.ts";
import type { Store } from "../store/store.ts";

/** The in-process engine client: the store itself, used directly. */
export function inProcessEngineClient(store: Store): EngineClient {
  return store;
}
