import type { Store } from "../../store/store.ts";
import type { FlowServices } from "../nodes/node-api.ts";

/** FlowServices.startRun over a store: a workflow run keyed by its idempotency key. */
export function storeStartRun(store: Pick<Store, "startRun">): NonNullable<FlowServices["startRun"]> {
  return async (p) => {
    const { run, created } = await store.startRun({
      namespace: p.namespace,
      type: "workflow",
      name: p.name,
      input: p.input,
      idempotencyKey: p.idempotencyKey,
      ...(p.queue === undefined ? {} : { queue: p.queue }),
    });
    return { id: run.id, created };
  };
}
