import { didYouMean, type KeyPath } from "../../config/config-problems.ts";
import { DEFAULT_ACTION } from "./flow-definition.ts";
import type { NextSpec } from "./flow-schema.ts";
import type { NodeEntry } from "./node-entries.ts";

/** Reports one problem at a path of the file. */
export type Report = (path: KeyPath, target: "key" | "value", message: string) => void;

/** One route of a node: the action, the target, and where the target is written (relative to `next`). */
export interface RouteRef {
  readonly action: string;
  readonly target: string;
  readonly at: KeyPath;
}

/** Every route written in a `next`, in order. */
export function routesOf(next: NextSpec | undefined): RouteRef[] {
  if (next === undefined) return [];
  if (typeof next === "string") return [{ action: DEFAULT_ACTION, target: next, at: [] }];
  if (Array.isArray(next)) return next.map((target, i) => ({ action: DEFAULT_ACTION, target, at: [i] }));
  const out: RouteRef[] = [];
  for (const [action, targets] of Object.entries(next)) {
    if (typeof targets === "string") out.push({ action, target: targets, at: [action] });
    else
      targets.forEach((target, i) => {
        out.push({ action, target, at: [action, i] });
      });
  }
  return out;
}

/** The node a `compensate` names, when it names one (inline compensations are nodes of their own). */
const compensationTarget = (entry: NodeEntry) =>
  typeof entry.graph.compensate === "string" ? entry.graph.compensate : undefined;

/**
 * Checks the graph: routes, needs and compensations name existing nodes; a node with `needs` is
 * only routed to from nodes it needs; there is a start node; every node can be reached. Returns
 * the start nodes (no incoming route, no needs, not only a compensation).
 */
export function checkGraph(all: readonly NodeEntry[], listPath: KeyPath, report: Report): readonly string[] {
  // A duplicated step id is reported by the caller; the graph is that of the first step of each id.
  const byId = new Map<string, NodeEntry>();
  for (const entry of all) if (!byId.has(entry.id)) byId.set(entry.id, entry);
  const entries = [...byId.values()];
  const incoming = new Set<string>();
  const compensations = new Set<string>();

  for (const entry of all) {
    for (const route of routesOf(entry.graph.next)) {
      const path = [...entry.path, entry.keyOf("next"), ...route.at];
      const target = byId.get(route.target);
      incoming.add(route.target);
      if (target === undefined) {
        const hint = didYouMean(route.target, byId.keys());
        report(
          path,
          "value",
          `Route "${route.action}" of node "${entry.id}" goes to "${route.target}", which is not a node${hint}`,
        );
      } else if (target.graph.needs.length > 0 && !target.graph.needs.includes(entry.id)) {
        report(
          path,
          "value",
          `Node "${route.target}" runs when its needs [${target.graph.needs.join(", ")}] have finished; a route from "${entry.id}" cannot start it. Add "${entry.id}" to its needs or route elsewhere`,
        );
      }
    }
    entry.graph.needs.forEach((need, i) => {
      const path = [...entry.path, entry.keyOf("needs"), i];
      if (need === entry.id) report(path, "value", `Node "${entry.id}" cannot need itself`);
      else if (!byId.has(need)) {
        report(
          path,
          "value",
          `Node "${entry.id}" needs "${need}", which is not a node${didYouMean(need, byId.keys())}`,
        );
      }
    });
    const compensate = compensationTarget(entry);
    if (compensate !== undefined) {
      compensations.add(compensate);
      if (!byId.has(compensate)) {
        const hint = didYouMean(compensate, byId.keys());
        report(
          [...entry.path, "compensate"],
          "value",
          `Compensation "${compensate}" of node "${entry.id}" is not a node${hint}`,
        );
      }
    }
  }

  const starts = entries
    .filter((e) => !incoming.has(e.id) && e.graph.needs.length === 0 && !compensations.has(e.id))
    .map((e) => e.id);
  if (entries.length > 0 && starts.length === 0) {
    report(
      listPath,
      "key",
      "The flow has no start node: every node has an incoming route or needs. Make one node the entry (no route into it)",
    );
    return starts;
  }
  for (const id of unreachable(all, byId, starts)) {
    if (compensations.has(id)) continue;
    const entry = byId.get(id) as NodeEntry;
    report(
      entry.path,
      "key",
      `Node "${id}" is unreachable: no route or needs leads to it from a start node (${starts.join(", ")})`,
    );
  }
  return starts;
}

/** Nodes no run can visit: not routed to from a reachable node, or joining on a node that is unreachable. */
function unreachable(all: readonly NodeEntry[], byId: ReadonlyMap<string, NodeEntry>, starts: readonly string[]) {
  const entries = [...byId.values()];
  const reached = new Set<string>(starts);
  const queue = [...starts];
  const visit = (id: string) => {
    if (!reached.has(id) && byId.has(id)) {
      reached.add(id);
      queue.push(id);
    }
  };
  for (;;) {
    while (queue.length > 0) {
      const id = queue.shift() as string;
      // Routes of every step written with this id (duplicates are reported elsewhere), to avoid knock-on reports.
      for (const entry of all.filter((e) => e.id === id)) {
        for (const route of routesOf(entry.graph.next)) {
          if (byId.get(route.target)?.graph.needs.length === 0) visit(route.target);
        }
      }
    }
    // A join runs once all it needs can finish; reaching one need is not enough.
    const joins = entries.filter((e) => !reached.has(e.id) && e.graph.needs.length > 0);
    // Missing needs are reported on their own; they should not also make the join "unreachable".
    const ready = joins.filter((e) => e.graph.needs.every((need) => reached.has(need) || !byId.has(need)));
    if (ready.length === 0) break;
    for (const join of ready) visit(join.id);
  }
  return entries.filter((e) => !reached.has(e.id)).map((e) => e.id);
}
