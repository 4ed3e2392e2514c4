/** Params of Store.deleteWorkflow. */
export interface DeleteWorkflowParams {
  readonly namespace: string;
  readonly name: string;
  /** Only this version; omitted = every version (the whole workflow). */
  readonly version?: string;
  /**
   * Delete even while runs of it are in flight (queued, running, sleeping, waiting, cancelling,
   * compensating): those runs are cancelled first, as `cancelRun` would. Without it the delete is
   * refused with WORKFLOW_IN_USE.
   */
  readonly force?: boolean;
}

/** What Store.deleteWorkflow removed. */
export interface DeleteWorkflowResult {
  readonly name: string;
  /** The versions deleted, newest first. */
  readonly versions: string[];
  /** The in-flight runs a forced delete cancelled (ids, oldest first); empty without force. */
  readonly cancelledRunIds: string[];
}

/**
 * The LIKE pattern of a case-insensitive substring search (`%`, `_` and `\` in the text match
 * themselves), for `LOWER(column) LIKE ? ESCAPE '\'`.
 */
export function containsPattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
