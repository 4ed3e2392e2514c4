import type { Run } from "./run.ts";

/**
 * The metadata label a workflow puts on the child runs it starts, naming itself, so that a child
 * script task can be told its workflow (KILN_WORKFLOW_NAME) without reading the parent run.
 */
export const WORKFLOW_NAME_LABEL = "kiln.workflow_name";

/** The name of the workflow that started a run, or null when no workflow did. */
export function startingWorkflowName(run: Pick<Run, "parentRunId" | "metadata">): string | null {
  if (run.parentRunId === null) return null;
  const name = run.metadata[WORKFLOW_NAME_LABEL];
  return typeof name === "string" ? name : null;
}
