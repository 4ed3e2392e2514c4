import { KilnError } from "../errors.ts";
import { newId } from "../engine/ids.ts";
import { isStepSettled, isTerminal, type RunStatus, type StepStatus } from "../engine/status.ts";
import type { Step } from "../engine/step.ts";
import { nextRunStatus, READY_RUN_STATUSES, type RunEvent } from "../engine/run-transitions.ts";
import { enqueueRunDeliveries } from "./sql-webhooks.ts";
import { rowsSource } from "./sql-driver.ts";
import {
  alreadyRecorded,
  leaseLost,
  SETTLED,
  STEP_COLUMNS,
  STEP_SOURCE_COLUMNS,
  type SqlKernel,
  settleAll,
  TERMINAL,
  toSerialized,
  type Tx,
  unique,
  type WorkRow,
} from "./sql-kernel.ts";
import { type RunRow, rowToStep, type StepRow } from "./sql-rows.ts";
import {
  cancelRuns,
  closeWaits,
  compensableRuns,
  descendants,
  type EndedRun,
  requeueRun,
  settleParents,
  settleTerminal,
} from "./sql-transitions.ts";
import type {
  AwaitEventParams,
  SaveStepParams,
  StartChildRunParams,
  UpdateRunParams,
  WriteResult,
} from "../engine/writes.ts";
import type { ExtendLeasesParams, ExtendLeasesResult } from "../engine/lease.ts";
import type { FinishRunParams } from "../engine/finish.ts";
import type { StartRunResult } from "../engine/start-run.ts";

// The fenced writes of workers (Store: extendLeases … updateRuns). Each follows one pattern: read
// and lock the runs concerned, decide every item in memory against the locked rows (LEASE_LOST,
// STEP_ALREADY_RECORDED, per-item payload errors), then write the decisions back set-based.

export async function extendLeases(k: SqlKernel, p: Readonly<ExtendLeasesParams>): Promise<ExtendLeasesResult> {
  if (p.leases.length === 0) return { lost: [], cancelRequested: [] };
  return k.tx(async (tx) => {
    const src = rowsSource(
      k.dialect,
      [
        ["rid", "text"],
        ["tok", "bigint"],
      ],
      p.leases.map((l) => [l.runId, l.leaseToken]),
    );
    const keys = k.batchKeys(
      "t.id",
      p.leases.map((l) => l.runId),
    );
    const extending = tx.db.all<{ id: string; cancel_requested: number }>(
      `UPDATE runs AS t SET lease_expires_at = ? FROM ${src.sql}
       WHERE t.id = v.rid AND t.lease_token = v.tok AND t.lease_owner = ? AND t.status NOT IN ${TERMINAL}${keys.sql}
       RETURNING id, cancel_requested`,
      [tx.now + p.leaseMs, ...src.params, p.owner, ...keys.params],
    );
    k.commit(tx);
    const kept = await extending;
    const alive = new Set(kept.map((k) => k.id));
    return {
      lost: unique(p.leases.map((l) => l.runId).filter((id) => !alive.has(id))),
      cancelRequested: kept.filter((k) => k.cancel_requested === 1).map((k) => k.id),
    };
  });
}

/**
 * Records steps (Store.saveSteps) in one burst of statements: lock the runs (for the fence
 * verdicts), upsert the fenced, unsettled steps (the fence and the settled guard are in the
 * statement itself), and withdraw the event waits of steps now settled. Each item then reads its
 * verdict: LEASE_LOST, STEP_ALREADY_RECORDED, or written.
 */
export async function saveSteps(
  k: SqlKernel,
  p: Readonly<{ steps: readonly SaveStepParams[] }>,
): Promise<WriteResult[]> {
  if (p.steps.length === 0) return [];
  return k.tx(async (tx) => {
    const results: (WriteResult | undefined)[] = [];
    // The last record of a step in the batch is the one written; one after a settled one is refused.
    const pending = new Map<string, { row: StepRow; token: number; items: number[] }>();
    for (const [i, item] of p.steps.entries()) {
      const key = `${item.runId}\u0000${item.name}`;
      const prev = pending.get(key);
      if (prev && isStepSettled(prev.row.status as StepStatus)) {
        results[i] = { ok: false, error: alreadyRecorded(item.runId, item.name, prev.row.status) };
        continue;
      }
      try {
        const row = stepRow(k, item, tx.now);
        pending.set(key, { row, token: item.leaseToken, items: [...(prev?.items ?? []), i] });
      } catch (error) {
        results[i] = { ok: false, error: toSerialized(error) };
      }
    }
    const rows = [...pending.values()];
    const undone = p.steps.filter((s) => s.type === "compensation" && s.status === "completed" && s.compensates);
    const work = Promise.all([
      k.lockRuns(
        tx,
        p.steps.map((s) => s.runId),
      ),
      rows.length > 0 ? upsertSteps(k, tx, rows) : new Set<string>(),
      rows.length > 0 ? withdrawSettledWaits(k, tx, rows) : undefined,
      // After the upsert: it reads the compensation rows the upsert wrote.
      undone.length > 0 ? markCompensated(tx, undone) : undefined,
    ]);
    k.commit(tx); // every verdict is read from the results: COMMIT goes with the statements
    const [runs, written] = await work;
    for (const [key, { row, items }] of pending) {
      for (const i of items) {
        const item = p.steps[i] as SaveStepParams;
        const lost = k.fence(runs.get(item.runId), item);
        results[i] = lost
          ? { ok: false, error: lost }
          : written.has(key)
            ? { ok: true, cancelRequested: runs.get(item.runId)?.cancel_requested === 1 }
            : { ok: false, error: alreadyRecorded(row.run_id, row.name, "settled") };
      }
    }
    for (const [i, item] of p.steps.entries()) {
      // Refused items keep their own error unless the fence fails first.
      const result = results[i];
      if (result && !result.ok && result.error.code !== "LEASE_LOST") {
        const lost = k.fence(runs.get(item.runId), item);
        if (lost) results[i] = { ok: false, error: lost };
      }
    }
    return results as WriteResult[];
  });
}

/** A step row from a record; child/event columns and the start time of an existing row are kept. */
function stepRow(k: SqlKernel, item: Readonly<SaveStepParams>, now: number): StepRow {
  const settled = isStepSettled(item.status);
  return {
    run_id: item.runId,
    name: item.name,
    seq: item.seq,
    type: item.type,
    status: item.status,
    output: item.output === undefined ? null : k.encode(item.output, `output of step "${item.name}"`),
    error: item.error ? k.encodeError(item.error) : null,
    attempt: item.attempt ?? 1,
    wake_at: item.wakeAt ?? null,
    child_run_id: null,
    event_name: null,
    event_key: null,
    compensable: item.compensable ? 1 : 0,
    started_at: item.startedAt ?? now,
    finished_at: settled ? now : null,
  };
}

/** What an upsert of a step may change in an existing, unsettled row. */
const STEP_UPDATES = STEP_COLUMNS.filter((c) => c !== "run_id" && c !== "name" && c !== "started_at")
  .map((c) =>
    c === "child_run_id" || c === "event_name" || c === "event_key"
      ? `${c} = COALESCE(excluded.${c}, steps.${c})`
      : `${c} = excluded.${c}`,
  )
  .join(", ");

/**
 * Inserts or updates steps whose run still holds the given lease and that are not settled yet;
 * returns the keys actually written.
 */
async function upsertSteps(
  k: SqlKernel,
  tx: Tx,
  rows: readonly { row: StepRow; token: number }[],
): Promise<Set<string>> {
  const src = rowsSource(
    k.dialect,
    [...STEP_SOURCE_COLUMNS, ["tok", "bigint"]],
    rows.map(({ row, token }) => [...STEP_COLUMNS.map((c) => row[c]), token]),
  );
  const keys = k.batchKeys(
    "r.id",
    rows.map((r) => r.row.run_id),
  );
  const cols = STEP_COLUMNS.join(", ");
  const written = await tx.db.all<{ run_id: string; name: string }>(
    `INSERT INTO steps (${cols})
     SELECT ${STEP_COLUMNS.map((c) => `v.${c}`).join(", ")} FROM ${src.sql}
       JOIN runs AS r ON r.id = v.run_id AND r.lease_token = v.tok AND r.lease_owner IS NOT NULL
         AND r.status NOT IN ${TERMINAL}${keys.sql}
     WHERE true
     ON CONFLICT (run_id, name) DO UPDATE SET ${STEP_UPDATES} WHERE steps.status NOT IN ${SETTLED}
     RETURNING run_id, name`,
    [...src.params, ...keys.params],
  );
  return new Set(written.map((w) => `${w.run_id}\u0000${w.name}`));
}

/**
 * Marks `compensated` the steps whose compensation is now recorded `completed`. The condition on
 * the compensation row makes it follow the upsert's verdict: a compensation refused (lease lost)
 * marks nothing, and one recorded before had already marked its step.
 */
async function markCompensated(tx: Tx, items: readonly SaveStepParams[]): Promise<void> {
  await settleAll(
    items.map((item) =>
      tx.db.run(
        `UPDATE steps SET status = 'compensated', finished_at = ?
         WHERE run_id = ? AND name = ? AND status = 'completed' AND compensable = 1
           AND EXISTS (SELECT 1 FROM steps AS c WHERE c.run_id = ? AND c.name = ? AND c.type = 'compensation'
                       AND c.status = 'completed')`,
        [tx.now, item.runId, item.compensates ?? "", item.runId, item.name],
      ),
    ),
  );
}

/** Deletes the event waits of the batch's steps that are settled (an event wait that timed out). */
async function withdrawSettledWaits(k: SqlKernel, tx: Tx, rows: readonly { row: StepRow }[]): Promise<void> {
  const settled = rows.filter(({ row }) => isStepSettled(row.status as StepStatus)).map(({ row }) => row);
  if (settled.length === 0) return;
  const src = rowsSource(
    k.dialect,
    [
      ["rid", "text"],
      ["sname", "text"],
    ],
    settled.map((w) => [w.run_id, w.name]),
  );
  const keys = k.batchKeys(
    "run_id",
    settled.map((w) => w.run_id),
  );
  await tx.db.run(
    `DELETE FROM event_waits
     WHERE EXISTS (SELECT 1 FROM ${src.sql} WHERE v.rid = event_waits.run_id AND v.sname = event_waits.step_name)
       AND EXISTS (SELECT 1 FROM steps AS s WHERE s.run_id = event_waits.run_id AND s.name = event_waits.step_name
                   AND s.status IN ${SETTLED})${keys.sql}`,
    [...src.params, ...keys.params],
  );
}

export async function startChildRun(
  k: SqlKernel,
  p: Readonly<StartChildRunParams>,
): Promise<WriteResult & { readonly childRunId?: string }> {
  return k.tx(async (tx) => {
    const runs = await k.lockRuns(tx, [p.runId]);
    const parent = runs.get(p.runId);
    const lost = k.fence(parent, p);
    if (lost || parent === undefined) return { ok: false, error: lost ?? leaseLost(p, parent) };
    const cancelRequested = parent.cancel_requested === 1;
    const [step] = await tx.db.all<StepRow>("SELECT * FROM steps WHERE run_id = ? AND name = ?", [p.runId, p.stepName]);
    if (step) {
      return step.child_run_id === null
        ? { ok: true, cancelRequested }
        : { ok: true, cancelRequested, childRunId: step.child_run_id };
    }
    let childRow: RunRow;
    try {
      childRow = k.newRunRow(
        {
          ...p.child,
          namespace: parent.namespace,
          idempotencyKey: `${parent.id}/${p.stepName}`,
          parentRunId: parent.id,
          parentStepName: p.stepName,
          rootRunId: parent.root_run_id,
        },
        tx.now,
      );
    } catch (error) {
      return { ok: false, error: toSerialized(error) };
    }
    const [result] = await k.insertRuns(tx, [childRow]);
    const child = (result as StartRunResult).run;
    await k.insertStep(tx, {
      run_id: parent.id,
      name: p.stepName,
      seq: p.seq,
      type: "child",
      status: "waiting",
      output: null,
      error: null,
      attempt: 1,
      wake_at: null,
      child_run_id: child.id,
      event_name: null,
      event_key: null,
      compensable: 0,
      started_at: tx.now,
      finished_at: null,
    });
    if (child.status === "completed") {
      // The child existed and succeeded (its step had been forgotten by a retry): reuse its output.
      const ended = await k.lockRuns<{ output: string | null }>(tx, [child.id], ", output");
      await settleTerminal(k, tx, [...ended.values()]);
    } else if (isTerminal(child.status)) {
      // The parent is retrying the step of a child that failed: the child runs again.
      const ended = await k.lockRuns(tx, [child.id]);
      await requeueRun(k, tx, ended.get(child.id) as WorkRow);
    }
    return { ok: true, cancelRequested, childRunId: child.id };
  });
}

export async function awaitEvent(
  k: SqlKernel,
  p: Readonly<AwaitEventParams>,
): Promise<WriteResult & { readonly step?: Step }> {
  return k.tx(async (tx) => {
    // The event-name lock comes before the run's row lock, as in sendEvent.
    const [owner] = await tx.db.all<{ namespace: string }>("SELECT namespace FROM runs WHERE id = ?", [p.runId]);
    if (owner) await k.lockEventName(tx, owner.namespace, p.eventName);
    const run = (await k.lockRuns(tx, [p.runId])).get(p.runId);
    const lost = k.fence(run, p);
    if (lost || run === undefined) return { ok: false, error: lost ?? leaseLost(p, run) };
    const cancelRequested = run.cancel_requested === 1;
    const [existing] = await tx.db.all<StepRow>("SELECT * FROM steps WHERE run_id = ? AND name = ?", [
      p.runId,
      p.stepName,
    ]);
    if (existing) return { ok: true, cancelRequested, step: rowToStep(existing) };
    const key = p.key ?? null;
    const [event] = await tx.db.all<{ id: string; payload: string | null }>(
      `SELECT id, payload FROM events WHERE consumed_by IS NULL AND namespace = ? AND name = ? AND expires_at > ?${
        key === null ? "" : " AND key = ?"
      } ORDER BY created_at, id LIMIT 1`,
      key === null ? [run.namespace, p.eventName, tx.now] : [run.namespace, p.eventName, tx.now, key],
    );
    const row: StepRow = {
      run_id: p.runId,
      name: p.stepName,
      seq: p.seq,
      type: "event",
      status: event ? "completed" : "waiting",
      output: event ? (event.payload ?? "null") : null,
      error: null,
      attempt: 1,
      wake_at: event ? null : (p.timeoutAt ?? null),
      child_run_id: null,
      event_name: p.eventName,
      event_key: key,
      compensable: 0,
      started_at: tx.now,
      finished_at: event ? tx.now : null,
    };
    if (event) {
      await tx.db.run("UPDATE events SET consumed_by = ?, consumed_at = ? WHERE id = ?", [p.runId, tx.now, event.id]);
    } else {
      await tx.db.run(
        `INSERT INTO event_waits (run_id, step_name, wait_id, namespace, event_name, event_key, timeout_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [p.runId, p.stepName, newId(), run.namespace, p.eventName, key, p.timeoutAt ?? null, tx.now],
      );
    }
    await k.insertStep(tx, row);
    return { ok: true, cancelRequested, step: rowToStep(row) };
  });
}

export async function finishRuns(
  k: SqlKernel,
  p: Readonly<{ items: readonly FinishRunParams[] }>,
): Promise<WriteResult[]> {
  if (p.items.length === 0) return [];
  if (p.items.every((i) => i.outcome === "complete") && new Set(p.items.map((i) => i.runId)).size === p.items.length) {
    return completeRuns(k, p.items as readonly CompleteItem[]);
  }
  return k.tx(async (tx) => {
    const runs = await k.lockRuns(
      tx,
      p.items.map((i) => i.runId),
    );
    // A run that timed out compensates its completed steps first, as a failed one does.
    const timingOut = p.items.filter((i) => i.outcome === "timed_out").map((i) => i.runId);
    const compensable = await compensableRuns(k, tx, timingOut);
    const results: WriteResult[] = [];
    const changed = new Map<string, WorkRow>();
    const retried: string[] = [];
    for (const item of p.items) {
      const run = runs.get(item.runId);
      const lost = k.fence(run, item);
      if (lost || run === undefined) {
        results.push({ ok: false, error: lost ?? leaseLost(item, run) });
        continue;
      }
      let next: WorkRow;
      try {
        next = finished(k, run, item, tx.now, compensable.has(run.id));
      } catch (error) {
        results.push({ ok: false, error: toSerialized(error) });
        continue;
      }
      runs.set(run.id, next);
      changed.set(run.id, next);
      if (item.outcome === "fail" && item.retryAt !== undefined) retried.push(run.id);
      results.push({ ok: true, cancelRequested: run.cancel_requested === 1 });
    }
    const rows = [...changed.values()];
    const terminal = rows.filter((r) => isTerminal(r.status as RunStatus));
    const closing = rows.filter((r) => WINDING_DOWN.has(r.status as RunStatus)).map((r) => r.id);
    // Before settleTerminal: a parent's step waiting on its cancelled child ends `cancelled`.
    if (closing.length > 0) await closeWaits(k, tx, closing);
    // The writes below are independent of each other: issued together (pipelined on PostgreSQL).
    const retriedList = k.list(retried);
    await settleAll([
      k.writeRuns(tx, rows),
      // A retry is a new attempt: failed steps run again, completed ones are replayed.
      retried.length > 0
        ? tx.db.run(`DELETE FROM steps WHERE run_id ${retriedList.sql} AND status = 'failed'`, retriedList.params)
        : undefined,
      settleTerminal(k, tx, terminal),
    ]);
    for (const r of rows) {
      const claimable = READY_RUN_STATUSES.includes(r.status as RunStatus);
      if (claimable && r.available_at !== null && r.available_at <= tx.now) k.markReady(tx, r.namespace, r.queue);
    }
    const timedOut = timingOut.filter((id) => changed.has(id));
    if (timedOut.length > 0) await cancelRuns(k, tx, await descendants(k, tx, timedOut), "the parent run timed out");
    return results;
  });
}

type CompleteItem = Extract<FinishRunParams, { outcome: "complete" }>;

/**
 * The hot path of finishRuns, a batch of completions (one per run): nothing is decided from the
 * current rows, so the fence goes into the UPDATE itself and the read before it is saved. Same
 * effects as the general path.
 */
async function completeRuns(k: SqlKernel, items: readonly CompleteItem[]): Promise<WriteResult[]> {
  const results: (WriteResult | undefined)[] = [];
  const rows: [string, number, string][] = [];
  for (const [i, item] of items.entries()) {
    try {
      rows.push([item.runId, item.leaseToken, k.encode(item.output, `output of run ${item.runId}`)]);
    } catch (error) {
      results[i] = { ok: false, error: toSerialized(error) };
    }
  }
  if (rows.length === 0) return results as WriteResult[];
  return k.tx(async (tx) => {
    const src = rowsSource(
      k.dialect,
      [
        ["rid", "text"],
        ["tok", "bigint"],
        ["out", "text"],
      ],
      rows,
    );
    const ids = k.list(rows.map((r) => r[0]));
    const keys = k.batchKeys(
      "t.id",
      rows.map((r) => r[0]),
    );
    const [done] = await Promise.all([
      tx.db.all<EndedRun & Pick<WorkRow, "cancel_requested">>(
        `UPDATE runs AS t SET status = 'completed', output = v.out, error = NULL, lease_owner = NULL,
           lease_expires_at = NULL, available_at = NULL, wake_requested = 0, finished_at = ?, updated_at = ?
         FROM ${src.sql}
         WHERE t.id = v.rid AND t.lease_token = v.tok AND t.lease_owner IS NOT NULL AND t.status NOT IN ${TERMINAL}${keys.sql}
         RETURNING id, status, error, parent_run_id, parent_step_name, cancel_requested,
           CASE WHEN parent_run_id IS NULL THEN NULL ELSE output END AS output`,
        [tx.now, tx.now, ...src.params, ...keys.params],
      ),
      // Issued with the UPDATE (and run after it): the completed runs' event waits go. A run that
      // had finished before has none left. Written so that the (usually empty) waits are probed
      // first and a run row is read only for a wait that exists.
      tx.db.run(
        `DELETE FROM event_waits WHERE run_id ${ids.sql}
         AND EXISTS (SELECT 1 FROM runs WHERE runs.id = event_waits.run_id AND runs.status = 'completed')`,
        ids.params,
      ),
      // Issued after the UPDATE too: the outcome's webhook deliveries, in its transaction (an id
      // that did not complete is a fenced-off write, so its status is checked in SQL).
      enqueueRunDeliveries(
        k.dialect,
        tx.db,
        tx.now,
        rows.map((r) => ({ id: r[0], status: "completed" })),
      ),
    ]);
    const completed = new Map(done.map((r) => [r.id, r]));
    const lost = items.filter((item, i) => results[i] === undefined && !completed.has(item.runId));
    const why =
      lost.length === 0
        ? new Map<string, WorkRow>()
        : await k.lockRuns(
            tx,
            lost.map((l) => l.runId),
          );
    for (const [i, item] of items.entries()) {
      if (results[i] !== undefined) continue;
      const row = completed.get(item.runId);
      results[i] = row
        ? { ok: true, cancelRequested: row.cancel_requested === 1 }
        : { ok: false, error: leaseLost(item, why.get(item.runId)) };
    }
    k.markEnded(
      tx,
      done.map((r) => r.id),
    );
    await settleParents(k, tx, done);
    return results as WriteResult[];
  });
}

/** Statuses whose waiting steps are closed (`cancelled`): the run will never resume them. */
const WINDING_DOWN: ReadonlySet<RunStatus> = new Set<RunStatus>([
  "cancelling",
  "compensating",
  "failed",
  "cancelled",
  "compensated",
  "timed_out",
]);

/** The event of the run state machine (engine/run-transitions.ts) that one finishRuns item is. */
function finishEvent(run: WorkRow, item: Readonly<FinishRunParams>, now: number, compensable: boolean): RunEvent {
  switch (item.outcome) {
    case "complete":
      return "finish_complete";
    case "fail":
      if (item.retryAt !== undefined) return "finish_retry";
      return item.compensate ? "finish_fail_compensate" : "finish_fail";
    case "park": {
      const woken = run.wake_requested === 1 || (item.wakeAt !== null && item.wakeAt <= now);
      if (woken) return "finish_park_woken";
      return item.status === "sleeping" ? "finish_park_sleeping" : "finish_park_waiting";
    }
    case "release":
      return "finish_release";
    case "cancelled":
      return "finish_cancelled";
    case "compensated":
      return "finish_compensated";
    case "timed_out":
      return compensable ? "finish_timed_out_compensable" : "finish_timed_out";
  }
}

/**
 * The run after one finishRuns item (the lease is always given back); its status is the state
 * machine's. `compensable`: the run has completed steps with a compensation, so a timeout
 * compensates them before the run ends.
 */
function finished(
  k: SqlKernel,
  run: WorkRow,
  item: Readonly<FinishRunParams>,
  now: number,
  compensable: boolean,
): WorkRow {
  const event = finishEvent(run, item, now, compensable);
  const status = nextRunStatus(run.status as RunStatus, event);
  if (status === undefined) {
    throw new KilnError("INVALID_STATE_TRANSITION", `Run ${run.id} is ${run.status}; it cannot end with ${event}`);
  }
  const base: WorkRow = {
    ...run,
    status,
    lease_owner: null,
    lease_expires_at: null,
    wake_requested: 0,
    updated_at: now,
  };
  if (isTerminal(status)) {
    const ended: WorkRow = { ...base, available_at: null, finished_at: now };
    if (item.outcome === "complete") {
      return { ...ended, error: null, output: k.encode(item.output, `output of run ${run.id}`) };
    }
    return { ...ended, error: "error" in item && item.error ? k.encodeError(item.error) : run.error };
  }
  switch (item.outcome) {
    case "fail":
      if (item.retryAt !== undefined) {
        return { ...base, error: k.encodeError(item.error), attempt: run.attempt + 1, available_at: item.retryAt };
      }
      return { ...base, error: k.encodeError(item.error), available_at: now };
    case "timed_out":
      return { ...base, error: k.encodeError(item.error), available_at: now };
    case "park":
      // A cancellation must go on: the run stays claimable instead of sleeping.
      if (run.status === "cancelling") return { ...base, available_at: now };
      if (event === "finish_park_woken") return { ...base, available_at: now };
      return { ...base, available_at: item.wakeAt };
    default:
      return { ...base, available_at: now };
  }
}

export async function updateRuns(
  k: SqlKernel,
  p: Readonly<{ items: readonly UpdateRunParams[] }>,
): Promise<WriteResult[]> {
  if (p.items.length === 0) return [];
  return k.tx(async (tx) => {
    const runs = await k.lockRuns<{ state: string; progress: string | null }>(
      tx,
      p.items.map((i) => i.runId),
      ", state, progress",
    );
    const values = new Map([...runs.values()].map((r) => [r.id, { state: r.state, progress: r.progress }]));
    const changed = new Set<string>();
    const results: WriteResult[] = [];
    for (const item of p.items) {
      const run = runs.get(item.runId);
      const lost = k.fence(run, item);
      const value = values.get(item.runId);
      if (lost || run === undefined || value === undefined) {
        results.push({ ok: false, error: lost ?? leaseLost(item, run) });
        continue;
      }
      try {
        const state = JSON.parse(value.state) as Record<string, string>;
        for (const [k, v] of Object.entries(item.state ?? {})) {
          if (v === null) delete state[k];
          else state[k] = String(v);
        }
        const encoded = k.encode(state, `state of run ${item.runId}`);
        const progress = item.progress === undefined ? value.progress : encodeProgress(k, item.progress);
        values.set(item.runId, { state: encoded, progress });
      } catch (error) {
        results.push({ ok: false, error: toSerialized(error) });
        continue;
      }
      changed.add(item.runId);
      results.push({ ok: true, cancelRequested: run.cancel_requested === 1 });
    }
    if (changed.size > 0) {
      const src = rowsSource(
        k.dialect,
        [
          ["id", "text"],
          ["state", "text"],
          ["progress", "text"],
        ],
        [...changed].map((id) => [id, values.get(id)?.state ?? "{}", values.get(id)?.progress ?? null]),
      );
      const keys = k.batchKeys("t.id", [...changed]);
      await tx.db.run(
        `UPDATE runs AS t SET state = v.state, progress = v.progress, updated_at = ?
         FROM ${src.sql} WHERE t.id = v.id${keys.sql}`,
        [tx.now, ...src.params, ...keys.params],
      );
    }
    return results;
  });
}

function encodeProgress(k: SqlKernel, progress: NonNullable<UpdateRunParams["progress"]>): string {
  const percent = progress.percent;
  if (percent !== null && !(typeof percent === "number" && Number.isFinite(percent))) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected progress "percent" to be a number or null, got ${JSON.stringify(percent)}`,
    );
  }
  return k.encode({ percent, message: progress.message ?? null }, "progress");
}
