// The script host and context of the benchmarks that run script attempts without a worker: logs,
// progress and state go nowhere, steps never park.
import type { ScriptContext } from "../src/exec/context-env.ts";
import type { ScriptHost } from "../src/exec/script-host.ts";

/** A ScriptHost that records nothing. */
export const silentHost: ScriptHost = {
  log: () => {},
  progress: () => {},
  setState: async () => {},
  heartbeat: () => {},
  steps: {
    get: () => undefined,
    complete: async () => {},
    sleep: async () => "done",
    waitForEvent: async () => ({ status: "timeout" }),
  },
};

/** The context env of a benchmark attempt of `taskKind`. */
export function benchContext(taskKind: string): ScriptContext {
  return {
    runId: "0190d7a4-3c1e-7b5a-9f00-00000000abcd",
    taskKind,
    attempt: 1,
    maxRetries: 0,
    workflowRunId: null,
    workflowName: null,
    idempotencyKey: "bench",
    traceparent: null,
  };
}
