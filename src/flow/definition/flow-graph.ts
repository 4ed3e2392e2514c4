import { KilnError } from "../../errors.ts";
import type { ExpressionScope, NodeResultView } from "../expressions/expression-scope.ts";
import { DEFAULT_ACTION, ERROR_ACTION, type FlowDefinition, getNode } from "./flow-definition.ts";

/**
 * The routing of a flow graph, pure (no I/O, no clock, no randomness) so that a replayed flow
 * activation takes exactly the same path: which nodes follow a finished node, when a join is
 * ready, how often a node may be visited, and what the flow's output is.
 */

/** What follows a finished node: the next node ids (empty: this branch ends), or failing the run. */
export type RouteDecision =
  | { readonly kind: "next"; readonly nodeIds: readonly string[] }
  | { readonly kind: "fail"; readonly nodeId: string };

const END: RouteDecision = Object.freeze({ kind: "next", nodeIds: Object.freeze([]) as readonly string[] });

/**
 * The nodes after `nodeId` finished with `action`: the route for that action; else, for any
 * action but `error`, the `default` route; else the branch ends. An `error` without an `error`
 * route fails the run (its compensations then run).
 */
export function routeAfter(flow: FlowDefinition, nodeId: string, action: string): RouteDecision {
  const routes = getNode(flow, nodeId).next;
  if (Object.hasOwn(routes, action)) return { kind: "next", nodeIds: routes[action] as readonly string[] };
  if (action === ERROR_ACTION) return { kind: "fail", nodeId };
  if (Object.hasOwn(routes, DEFAULT_ACTION))
    return { kind: "next", nodeIds: routes[DEFAULT_ACTION] as readonly string[] };
  return END;
}

const dependentsCache = new WeakMap<FlowDefinition, ReadonlyMap<string, readonly string[]>>();

/** The join nodes whose `needs` include `nodeId`, in written order. */
export function dependentsOf(flow: FlowDefinition, nodeId: string): readonly string[] {
  let index = dependentsCache.get(flow);
  if (index === undefined) {
    const map = new Map<string, string[]>();
    for (const id of flow.nodeIds) {
      for (const need of getNode(flow, id).needs) map.set(need, [...(map.get(need) ?? []), id]);
    }
    index = map;
    dependentsCache.set(flow, index);
  }
  return index.get(nodeId) ?? [];
}

/** Whether a join may run: every node it needs has finished (`finished` holds the ones that have). */
export function isJoinReady(flow: FlowDefinition, nodeId: string, finished: ReadonlySet<string>): boolean {
  return getNode(flow, nodeId).needs.every((need) => finished.has(need));
}

/** Fails when visit number `visit` (1-based) of a node is over the flow's `max_visits`. */
export function checkVisit(flow: FlowDefinition, nodeId: string, visit: number): void {
  if (visit <= flow.maxVisits) return;
  throw new KilnError(
    "VISIT_LIMIT_EXCEEDED",
    `Node "${nodeId}" of flow "${flow.name}" would run more than ${flow.maxVisits} times (max_visits: ${flow.maxVisits}); check the cycle through it, or raise max_visits`,
    { data: { nodeId, visits: visit, maxVisits: flow.maxVisits } },
  );
}

/** A node about to run: which visit it is and what its `input` is. */
export interface NodeActivation {
  readonly nodeId: string;
  /** 1-based count of this node's visits in the run, this one included. */
  readonly visit: number;
  /**
   * The node's `input`: the flow input for a start node; the routing node's output (its error for
   * an `error` route); for a join, an object of the needed nodes' outputs by node id.
   */
  readonly input: unknown;
  /** The node that routed here (null for start nodes and joins). */
  readonly from: string | null;
}

/** How a node finished, as reported to the cursor. */
export interface NodeOutcome {
  /** `default`, `error`, or an action the node chose (a condition's). */
  readonly action: string;
  /** `completed`, `failed` or `skipped` (a false `when`). */
  readonly status: string;
  readonly output: unknown;
  readonly error?: unknown;
}

/**
 * Walks a flow graph for one run activation: hands out ready nodes, counts visits, takes finished
 * nodes and schedules what follows (routes by action, fan-out lists, joins on `needs`). Mutable
 * but deterministic: the same outcomes in the same order give the same activations.
 */
export class FlowCursor {
  readonly flow: FlowDefinition;
  readonly flowInput: unknown;
  readonly #ready: Omit<NodeActivation, "visit">[] = [];
  readonly #visits = new Map<string, number>();
  readonly #arrived = new Map<string, Set<string>>();
  readonly #results: Record<string, NodeResultView> = Object.create(null) as Record<string, NodeResultView>;
  #lastNodeId: string | null = null;
  #flowView: Readonly<Record<string, unknown>> | undefined;
  #flowExtra: Readonly<Record<string, unknown>> | undefined;
  #output: unknown;

  constructor(flow: FlowDefinition, flowInput: unknown) {
    this.flow = flow;
    this.flowInput = flowInput;
    this.#output = flowInput;
    for (const nodeId of flow.startNodeIds) this.#ready.push({ nodeId, input: flowInput, from: null });
  }

  /** Whether nothing is left to run (the flow is finished, unless a join still waits; see waitingJoins). */
  get isDone(): boolean {
    return this.#ready.length === 0;
  }

  /** The flow's output: the output of the last node that ran (skipped nodes do not count); else the input. */
  get output(): unknown {
    return this.#output;
  }

  /** The last node that ran, or null. */
  get lastNodeId(): string | null {
    return this.#lastNodeId;
  }

  /** How many times a node has been handed out. */
  visits(nodeId: string): number {
    return this.#visits.get(nodeId) ?? 0;
  }

  /** Joins that have some but not all of their needs finished: they never ran when the flow ends. */
  get waitingJoins(): readonly { readonly nodeId: string; readonly missing: readonly string[] }[] {
    return [...this.#arrived.entries()]
      .filter(([, arrived]) => arrived.size > 0)
      .map(([nodeId, arrived]) => ({
        nodeId,
        missing: getNode(this.flow, nodeId).needs.filter((n) => !arrived.has(n)),
      }));
  }

  /**
   * Takes every ready node, in scheduling order, counting a visit for each. Throws
   * VISIT_LIMIT_EXCEEDED when a node goes over the flow's `max_visits`.
   */
  takeReady(): readonly NodeActivation[] {
    const batch = this.#ready.splice(0, this.#ready.length);
    return batch.map((pending) => {
      const visit = this.visits(pending.nodeId) + 1;
      checkVisit(this.flow, pending.nodeId, visit);
      this.#visits.set(pending.nodeId, visit);
      return { ...pending, visit };
    });
  }

  /**
   * Records how a node finished and schedules what follows. A `fail` decision means the node
   * failed with no `error` route: fail the run with the node's error.
   */
  finish(nodeId: string, outcome: NodeOutcome): RouteDecision {
    this.#results[nodeId] = { output: outcome.output, status: outcome.status, error: outcome.error ?? null };
    if (outcome.status !== "skipped") {
      this.#lastNodeId = nodeId;
      this.#output = outcome.output;
    }
    const decision = routeAfter(this.flow, nodeId, outcome.action);
    if (decision.kind === "fail") return decision;
    const input = outcome.action === ERROR_ACTION ? (outcome.error ?? outcome.output) : outcome.output;
    for (const target of decision.nodeIds) {
      // A join starts from its needs below, never from a route.
      if (getNode(this.flow, target).needs.length === 0) this.#ready.push({ nodeId: target, input, from: nodeId });
    }
    for (const join of dependentsOf(this.flow, nodeId)) this.#arrive(join, nodeId);
    return decision;
  }

  #arrive(join: string, nodeId: string): void {
    const arrived = this.#arrived.get(join) ?? new Set<string>();
    arrived.add(nodeId);
    this.#arrived.set(join, arrived);
    if (!isJoinReady(this.flow, join, arrived)) return;
    // The join's next visit waits for every need to finish again.
    this.#arrived.delete(join);
    const needs = getNode(this.flow, join).needs;
    const input = Object.fromEntries(needs.map((need) => [need, this.#results[need]?.output ?? null]));
    this.#ready.push({ nodeId: join, input, from: null });
  }

  /** A snapshot of the finished nodes' latest results, for `nodes.<id>` in expressions. */
  results(): Readonly<Record<string, NodeResultView>> {
    return Object.freeze(Object.assign(Object.create(null) as Record<string, NodeResultView>, this.#results));
  }

  /**
   * The expression scope of an activation: its input, the flow input, the results so far, and the
   * given secrets, env and run. Build it once per activation and reuse it for all of the node's
   * expressions (the sandbox keeps the last scope by identity).
   */
  scopeFor(
    activation: NodeActivation,
    extra: Pick<ExpressionScope, "secrets" | "env" | "run"> & {
      readonly flow?: Readonly<Record<string, unknown>>;
    } = {},
  ): ExpressionScope {
    // The same `flow` object for every visit, so the sandbox sends the flow input only once.
    if (this.#flowView === undefined || this.#flowExtra !== extra.flow) {
      this.#flowView = Object.freeze({ ...extra.flow, input: this.flowInput, name: this.flow.name });
      this.#flowExtra = extra.flow;
    }
    return {
      input: activation.input,
      flow: this.#flowView,
      nodes: this.results(),
      ...(extra.secrets === undefined ? {} : { secrets: extra.secrets }),
      ...(extra.env === undefined ? {} : { env: extra.env }),
      ...(extra.run === undefined ? {} : { run: extra.run }),
    };
  }
}
