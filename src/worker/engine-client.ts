import type { Store } from "../store/store.ts";

/**
 * The one interface the worker depends on: the fenced worker-side verbs of the engine. Two
 * implementations pass the same contract: the store itself (in-process, `kiln dev`) and the HTTP
 * client of a remote server (`kiln worker --server URL`). Workers never hold database credentials.
 */
export type EngineClient = Pick<
  Store,
  | "claimRuns"
  | "offerHandoff"
  | "extendLeases"
  | "saveSteps"
  | "startChildRun"
  | "awaitEvent"
  | "finishRuns"
  | "updateRuns"
  | "appendLogs"
  | "subscribe"
  | "sweep"
>;

/** The in-process engine client: the store itself, used directly. */
export function inProcessEngineClient(store: Store): EngineClient {
  return store;
}
