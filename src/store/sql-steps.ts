import { newId } from "../engine/ids.ts";
import { runSpanId } from "../tracing/spans.ts";
import { isStepSettled, isTerminal, type StepStatus } from "../engine/status.ts";
import type { Step } from "../engine/step.ts";
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
  type WorkRow,
} from "./sql-kernel.ts";
import { type RunRow, rowToStep, type StepRow } from "./sql-rows.ts";
import { requeueRun, settleTerminal } from "./sql-transitions.ts";
import type { AwaitEventParams, SaveStepParams, StartChildRunParams, WriteResult } from "../engine/writes.ts";
import type { StartRunResult } from "../engine/start-run.ts";

// The step records of workers (saveSteps, startChildRun, awaitEvent), fenced by the lease token. Each follows one pattern: read
// and lock the runs concerned, decide every item in memory against the locked rows (LEASE_LOST,
// STEP_ALREADY_RECORDED, per-item payload errors), then write the decisions back set-based.

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
    const runs = await k.lockRuns<{ metadata: string | null }>(tx, [p.runId], ", metadata");
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
          ...childMetadata(parent, p.child.metadata),
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

/**
 * A child's metadata: the caller's, plus the parent's trace when the parent continues one it was
 * given (a run started by a traced request stores its traceparent). The child then stores its
 * parent's run span as its own parent, so its spans join that trace; a parent without one leaves
 * the child in the trace derived from their root run's id, which they share already.
 */
function childMetadata(
  parent: { readonly id: string; readonly metadata: string | null },
  given: Readonly<Record<string, unknown>> | undefined,
): { metadata?: Readonly<Record<string, unknown>> } {
  const base = given === undefined ? {} : { metadata: given };
  if (given?.traceparent !== undefined || parent.metadata === null || parent.metadata === "{}") return base;
  let stored: unknown;
  try {
    stored = (JSON.parse(parent.metadata) as { traceparent?: unknown }).traceparent;
  } catch {
    return base;
  }
  const traceId = typeof stored === "string" ? TRACEPARENT.exec(stored)?.[1] : undefined;
  if (traceId === undefined) return base;
  return { metadata: { ...given, traceparent: `00-${traceId}-${runSpanId(parent.id)}-01` } };
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

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
