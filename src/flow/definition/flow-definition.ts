import type { RetryPolicy } from "../../engine/retry-policy.ts";
import { KilnError } from "../../errors.ts";

/** The action a node takes when it finishes normally. */
export const DEFAULT_ACTION = "default";
/** The action a node takes when it fails (after its retries). */
export const ERROR_ACTION = "error";
/** The visit limit of a node when the flow does not set `max_visits`. */
export const DEFAULT_MAX_VISITS = 100;

/** A resolved node: defaults applied, durations in milliseconds, routes normalized to lists. Frozen. */
export interface FlowNode {
  readonly id: string;
  /** The node type, aliases resolved (`run` → `script`). */
  readonly type: string;
  /** Display name (steps: the step's name). */
  readonly name: string | null;
  readonly description: string | null;
  /** Params as written: strings may hold `${…}` expressions, resolved per visit. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Routes by action (`default`, `error`, or an action the node returns), each a list of node ids. */
  readonly next: Readonly<Record<string, readonly string[]>>;
  /** Join: the node runs once each of these nodes has finished (since its last visit). */
  readonly needs: readonly string[];
  /** The node's retry policy, or null for the node type's default. */
  readonly retry: RetryPolicy | null;
  /** Time limit of one attempt, or null for none. */
  readonly timeoutMs: number | null;
  /** Guard: the node runs only when this is truthy (an expression or a `${…}` template); null runs always. */
  readonly when: string | boolean | null;
  /** The node run to undo this one when the run fails or is cancelled (saga), or null. */
  readonly compensate: FlowNode | null;
}

/** A validated, resolved, frozen flow graph: what the flow interpreter runs. */
export interface FlowDefinition {
  readonly name: string;
  readonly description: string | null;
  readonly version: string | null;
  /** JSON Schema of the flow input (`params:` of the file), or null. */
  readonly inputSchema: Readonly<Record<string, unknown>> | null;
  /** How many times one node may be visited in a run. */
  readonly maxVisits: number;
  /** Nodes by id (a null-prototype record: look ids up with findNode/getNode). */
  readonly nodes: Readonly<Record<string, FlowNode>>;
  /** Node ids in the order they are written. */
  readonly nodeIds: readonly string[];
  /** Nodes with no incoming route and no needs (compensation-only nodes excluded), in written order. */
  readonly startNodeIds: readonly string[];
}

/** The node with this id, or undefined. */
export function findNode(flow: FlowDefinition, id: string): FlowNode | undefined {
  return Object.hasOwn(flow.nodes, id) ? flow.nodes[id] : undefined;
}

/** The node with this id; a missing one is a programming error in the caller (INTERNAL). */
export function getNode(flow: FlowDefinition, id: string): FlowNode {
  const node = findNode(flow, id);
  if (node === undefined) throw new KilnError("INTERNAL", `Flow "${flow.name}" has no node "${id}"`);
  return node;
}
