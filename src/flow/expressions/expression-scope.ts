/** What a flow expression or transform script can see (docs/flows.md). */

/** The recorded result of a node, as `nodes.<id>` in expressions. */
export interface NodeResultView {
  readonly output: unknown;
  /** The step status: `completed`, `failed`, `skipped`, … */
  readonly status: string;
  readonly error: unknown;
}

/**
 * The names in scope of a `${…}` expression and of a `transform` script. Values must be JSON
 * (they are copied into the sandbox as JSON). A scope and its parts are treated as immutable: the
 * sandbox keeps the last scope it saw, and what it holds of each part and node result, by object
 * identity. Build new objects for new values (FlowCursor.scopeFor does); never mutate one in place.
 */
export interface ExpressionScope {
  /** The previous node's output; the flow input for start nodes. */
  readonly input?: unknown;
  /** The flow run: `flow.input` is the input the run started with. */
  readonly flow?: Readonly<{ input?: unknown } & Record<string, unknown>>;
  /** Results of the nodes that have finished, by node id. */
  readonly nodes?: Readonly<Record<string, NodeResultView>>;
  /** Secret values by name; reading one is recorded so the caller can mask it. */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly env?: Readonly<Record<string, string>>;
  /** The run: id, attempt, workflow name, … */
  readonly run?: Readonly<Record<string, unknown>>;
}

/** The names an expression may use besides globals. */
export const SCOPE_NAMES = ["input", "flow", "nodes", "secrets", "env", "run"] as const;
