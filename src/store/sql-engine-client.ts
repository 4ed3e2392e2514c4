import { replaceNul } from "../engine/free-text.ts";
import type { ClaimRunsParams, ClaimRunsResult } from "../engine/claim.ts";
import type { EngineClient, StoreNotification } from "../engine/engine-client.ts";
import type { FinishRunParams } from "../engine/finish.ts";
import type { ExtendLeasesParams, ExtendLeasesResult } from "../engine/lease.ts";
import type { LogEntryInput } from "../engine/log-entry.ts";
import type { Step } from "../engine/step.ts";
import type {
  AwaitEventParams,
  SaveStepParams,
  StartChildRunParams,
  UpdateRunParams,
  WriteResult,
} from "../engine/writes.ts";
import { claimRuns } from "./sql-claim.ts";
import { rowsSource } from "./sql-driver.ts";
import { finishRuns } from "./sql-finish.ts";
import { RUNS_CHANNEL, type SqlKernel } from "./sql-kernel.ts";
import { extendLeases } from "./sql-leases.ts";
import { updateRuns } from "./sql-run-state.ts";
import { awaitEvent, saveSteps, startChildRun } from "./sql-steps.ts";

/**
 * The worker side of the SQL store: the EngineClient verbs over the store's kernel. The SqlStore
 * delegates to it; each verb's SQL is in the file named for what it does.
 */
export class SqlEngineClient implements EngineClient {
  readonly #k: SqlKernel;

  constructor(kernel: SqlKernel) {
    this.#k = kernel;
  }

  claimRuns(p: Readonly<ClaimRunsParams>): Promise<ClaimRunsResult> {
    return claimRuns(this.#k, p);
  }

  extendLeases(p: Readonly<ExtendLeasesParams>): Promise<ExtendLeasesResult> {
    return extendLeases(this.#k, p);
  }

  saveSteps(p: Readonly<{ steps: readonly SaveStepParams[] }>): Promise<WriteResult[]> {
    return saveSteps(this.#k, p);
  }

  startChildRun(p: Readonly<StartChildRunParams>): Promise<WriteResult & { readonly childRunId?: string }> {
    return startChildRun(this.#k, p);
  }

  awaitEvent(p: Readonly<AwaitEventParams>): Promise<WriteResult & { readonly step?: Step }> {
    return awaitEvent(this.#k, p);
  }

  finishRuns(p: Readonly<{ items: readonly FinishRunParams[] }>): Promise<WriteResult[]> {
    return finishRuns(this.#k, p);
  }

  updateRuns(p: Readonly<{ items: readonly UpdateRunParams[] }>): Promise<WriteResult[]> {
    return updateRuns(this.#k, p);
  }

  async appendLogs(p: Readonly<{ entries: readonly LogEntryInput[] }>): Promise<void> {
    if (p.entries.length === 0) return;
    const now = this.#k.clock();
    const src = rowsSource(
      this.#k.dialect,
      [
        ["run_id", "text"],
        ["attempt", "bigint"],
        ["step_name", "text"],
        ["level", "text"],
        ["message", "text"],
        ["ts", "bigint"],
      ],
      // A NUL in one line must not fail the batch (PostgreSQL refuses it): replaced, as in outputs.
      p.entries.map((e) => [
        e.runId,
        e.attempt,
        e.stepName == null ? null : replaceNul(e.stepName),
        e.level,
        replaceNul(e.message),
        e.ts ?? now,
      ]),
    );
    await this.#k.driver.run(
      `INSERT INTO logs (run_id, attempt, step_name, level, message, ts)
       SELECT run_id, attempt, step_name, level, message, ts FROM ${src.sql}`,
      src.params,
    );
  }

  async subscribe(listener: (n: StoreNotification) => void): Promise<() => Promise<void>> {
    return this.#k.driver.listen(RUNS_CHANNEL, (payload) => {
      let note: { namespace?: unknown; queue?: unknown; at?: unknown };
      try {
        note = JSON.parse(payload) as typeof note;
      } catch {
        return;
      }
      if (typeof note.namespace !== "string" || typeof note.queue !== "string") return;
      if (typeof note.at === "number")
        listener({ type: "timer", namespace: note.namespace, queue: note.queue, at: note.at });
      else listener({ type: "runs-ready", namespace: note.namespace, queue: note.queue });
    });
  }
}
