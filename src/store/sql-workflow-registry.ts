import { KilnError } from "../errors.ts";
import { cancelRuns, descendants } from "./sql-transitions.ts";
import { type SqlKernel, TERMINAL, WORK_SELECT, type WorkRow } from "./sql-kernel.ts";
import type { DeleteWorkflowParams, DeleteWorkflowResult } from "./workflow-registry.ts";

/** How many in-flight run ids a WORKFLOW_IN_USE error lists (the count is always exact). */
const LISTED_RUNS = 20;

/**
 * Deletes a workflow (every version) or one version, in one transaction. In-flight runs pinned to
 * what is deleted refuse the delete (WORKFLOW_IN_USE) unless `force`, which cancels them (and
 * their children) first, so no run is left queued for code that no longer exists.
 */
export async function deleteWorkflow(k: SqlKernel, p: Readonly<DeleteWorkflowParams>): Promise<DeleteWorkflowResult> {
  return k.tx(async (tx) => {
    // The same lock as deployWorkflow: a deploy and a delete of one name never interleave.
    if (k.dialect === "postgres") {
      await tx.db.all("SELECT pg_advisory_xact_lock(3, hashtext(?::text))", [`deploy/${p.namespace}/${p.name}`]);
    }
    const versionFilter = p.version === undefined ? "" : " AND version = ?";
    const scope = p.version === undefined ? [p.namespace, p.name] : [p.namespace, p.name, p.version];
    const versions = await tx.db.all<{ version: string }>(
      `SELECT version FROM workflow_deployments WHERE namespace = ? AND name = ?${versionFilter} ORDER BY seq DESC`,
      scope,
    );
    if (versions.length === 0) {
      throw new KilnError(
        "WORKFLOW_NOT_FOUND",
        p.version === undefined
          ? `No workflow "${p.name}" is deployed in namespace "${p.namespace}"`
          : `Workflow "${p.name}" has no version ${p.version} in namespace "${p.namespace}"`,
        { data: { name: p.name, ...(p.version === undefined ? {} : { version: p.version }) } },
      );
    }
    const inFlight = await tx.db.all<WorkRow>(
      `SELECT ${WORK_SELECT} FROM runs WHERE namespace = ? AND type = 'workflow' AND name = ?${versionFilter}
       AND status NOT IN ${TERMINAL} ORDER BY id${k.forUpdate}`,
      scope,
    );
    const what = p.version === undefined ? `Workflow "${p.name}"` : `Workflow "${p.name}" version ${p.version}`;
    if (inFlight.length > 0 && p.force !== true) {
      const ids = inFlight.map((r) => r.id);
      throw new KilnError(
        "WORKFLOW_IN_USE",
        `${what} has ${ids.length} run(s) in flight (${ids.slice(0, LISTED_RUNS).join(", ")}${ids.length > LISTED_RUNS ? ", …" : ""}); wait for them to finish, cancel them, or delete with force (which cancels them)`,
        {
          data: {
            name: p.name,
            ...(p.version === undefined ? {} : { version: p.version }),
            runIds: ids.slice(0, LISTED_RUNS),
            runCount: ids.length,
          },
        },
      );
    }
    if (inFlight.length > 0) {
      const family = await descendants(
        k,
        tx,
        inFlight.map((r) => r.id),
      );
      const own = new Set(inFlight.map((r) => r.id));
      await cancelRuns(k, tx, [...inFlight, ...family.filter((r) => !own.has(r.id))], `${what} was deleted`);
    }
    await tx.db.run(`DELETE FROM workflow_deployments WHERE namespace = ? AND name = ?${versionFilter}`, scope);
    return { name: p.name, versions: versions.map((v) => v.version), cancelledRunIds: inFlight.map((r) => r.id) };
  });
}
