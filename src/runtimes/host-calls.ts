import { KilnError } from "../errors.ts";
import type { Run } from "../engine/run.ts";
import type {
  AwaitEventParams,
  SaveStepParams,
  StartChildRunParams,
  UpdateRunParams,
  WriteResult,
} from "../engine/writes.ts";
import type { ActivationDeps } from "../workflow/workflow-activation.ts";
import type { ClaimedRun } from "../engine/claim.ts";
import type { LogEntryInput } from "../engine/log-entry.ts";
import type { CallHandler } from "./host-process.ts";

/**
 * What the worker knows of an activation running in a host: whether a completed step declared a
 * compensation, so an activation cut by the worker (CPU limit) still compensates.
 */
export class ActivationTracker {
  #compensable: boolean;

  constructor(claimed: ClaimedRun) {
    this.#compensable = claimed.steps.some((s) => s.compensable && s.status === "completed");
  }

  get compensable(): boolean {
    return this.#compensable;
  }

  saved(step: SaveStepParams, result: WriteResult): void {
    if (result.ok && step.compensable && step.status === "completed") this.#compensable = true;
  }
}

/**
 * Performs the calls of an activation running in a host: the same fenced writes an in-process
 * activation makes, through the worker's batcher (so hosts share its group commits). A call may
 * only touch the run the host was given, with its lease token.
 */
export function fencedCallHandler(run: Run, deps: ActivationDeps, tracker: ActivationTracker): CallHandler {
  const own = (lease: { runId?: unknown; leaseToken?: unknown }, what: string) => {
    if (lease.runId !== run.id || lease.leaseToken !== run.leaseToken) {
      throw new KilnError("INVALID_INPUT", `A workflow host may only ${what} for its own run ${run.id}`);
    }
  };
  return async (method, params) => {
    switch (method) {
      case "saveSteps": {
        const steps = listOf<SaveStepParams>(params, "steps");
        for (const s of steps) own(s, "record steps");
        return await Promise.all(
          steps.map(async (s) => {
            // A result over the payload limit is refused by the store (PAYLOAD_TOO_LARGE); the
            // host fails the step with that error, as an in-process activation does.
            const result = await deps.batcher.saveStep(s);
            tracker.saved(s, result);
            return result;
          }),
        );
      }
      case "updateRuns": {
        // Workflow code reports progress (it has no state to set); it goes the worker's way.
        const items = listOf<UpdateRunParams>(params, "items");
        for (const item of items) own(item, "update progress");
        for (const item of items) if (item.progress) deps.progress(item.progress);
        return items.map((): WriteResult => ({ ok: true, cancelRequested: false }));
      }
      case "startChildRun": {
        const p = params as StartChildRunParams;
        own(p, "start children");
        return await deps.client.startChildRun(p);
      }
      case "awaitEvent": {
        const p = params as AwaitEventParams;
        own(p, "wait for events");
        return await deps.client.awaitEvent(p);
      }
      case "appendLogs":
        for (const e of listOf<LogEntryInput>(params, "entries")) {
          deps.log(e.level, String(e.message), e.stepName ?? null);
        }
        return null;
      default:
        throw new KilnError("INVALID_INPUT", `Unknown host call "${String(method)}"`);
    }
  };
}

function listOf<T>(params: unknown, key: string): T[] {
  const list = (params as Record<string, unknown> | null)?.[key];
  if (!Array.isArray(list)) throw new KilnError("INVALID_INPUT", `Expected "${key}" to be a list in a host call`);
  return list as T[];
}
