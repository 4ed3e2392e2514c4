// A flow run's node graph as SVG: nodes in columns by depth from the start nodes, each coloured
// by the status of its step, and the routes the run took drawn as taken.
import { api } from "./api.js";
import { esc } from "./format.js";

const W = 170;
const H = 34;
const GAP_X = 60;
const GAP_Y = 18;

/** Columns by longest distance from a start node (cycles are cut at the first revisit). */
function layout(graph) {
  const depth = new Map();
  const incoming = new Set(graph.edges.map((e) => e.to));
  const starts = graph.nodes.filter((n) => !incoming.has(n.id)).map((n) => n.id);
  const visit = (id, d, seen) => {
    if (seen.has(id) || (depth.get(id) ?? -1) >= d) return;
    depth.set(id, d);
    const next = new Set(seen).add(id);
    for (const e of graph.edges) if (e.from === id) visit(e.to, d + 1, next);
  };
  for (const s of starts.length > 0 ? starts : graph.nodes.slice(0, 1).map((n) => n.id)) visit(s, 0, new Set());
  const rows = new Map();
  const at = new Map();
  for (const n of graph.nodes) {
    const d = depth.get(n.id) ?? 0;
    const r = rows.get(d) ?? 0;
    rows.set(d, r + 1);
    at.set(n.id, { x: 10 + d * (W + GAP_X), y: 10 + r * (H + GAP_Y) });
  }
  return at;
}

/** A node's step: its first visit (`id`) or its latest (`id#n`). */
function stepOf(steps, id) {
  const visits = steps.filter((s) => s.name === id || s.name.startsWith(`${id}#`));
  return visits.at(-1);
}

/** Loads the graph of a flow run's version; null for code workflows and tasks. */
export async function flowGraph(run) {
  if (run.type !== "workflow" || !run.version) return null;
  let graph;
  try {
    graph = await api(
      `/v1/workflows/${encodeURIComponent(run.name)}/versions/${encodeURIComponent(run.version)}/graph`,
    );
  } catch {
    return null; // A code workflow (or a version since removed): no graph to draw.
  }
  const at = layout(graph);
  const width = Math.max(...[...at.values()].map((p) => p.x)) + W + 10;
  const height = Math.max(...[...at.values()].map((p) => p.y)) + H + 10;
  return {
    render(steps) {
      const edges = graph.edges.map((e) => {
        const a = at.get(e.from);
        const b = at.get(e.to);
        if (!a || !b) return "";
        const from = stepOf(steps, e.from);
        const action = from?.output?.action ?? "default";
        const taken =
          from !== undefined &&
          stepOf(steps, e.to) !== undefined &&
          (e.action === "needs" || e.action === action || e.action === "default");
        const x1 = a.x + W;
        const y1 = a.y + H / 2;
        const x2 = b.x;
        const y2 = b.y + H / 2;
        const label =
          e.action === "default"
            ? ""
            : `<text x="${(x1 + x2) / 2}" y="${(y1 + y2) / 2 - 4}" font-size="10" fill="currentColor" text-anchor="middle">${esc(e.action)}</text>`;
        return `<path class="edge ${taken ? "taken" : ""}" d="M${x1},${y1} C${x1 + 30},${y1} ${x2 - 30},${y2} ${x2},${y2}" marker-end="url(#arrow)"/>${label}`;
      });
      const nodes = graph.nodes.map((n) => {
        const p = at.get(n.id);
        const status = stepOf(steps, n.id)?.status ?? "pending";
        return (
          `<g class="node s-${esc(status)}" data-node="${esc(n.id)}" data-status="${esc(status)}" transform="translate(${p.x},${p.y})">` +
          `<title>${esc(`${n.id} (${n.type}): ${status}`)}</title><rect width="${W}" height="${H}" rx="6"/>` +
          `<text x="8" y="14">${esc(n.id)}</text><text x="8" y="28" font-size="10" opacity=".7">${esc(n.type)} · ${esc(status)}</text></g>`
        );
      });
      return (
        `<svg width="${width}" height="${height}" role="img" aria-label="Flow graph" id="flow-graph">` +
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>' +
        `${edges.join("")}${nodes.join("")}</svg>`
      );
    },
  };
}
