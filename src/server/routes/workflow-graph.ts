import { parse } from "yaml";
import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";

const GraphSchema = z.object({
  nodes: z.array(z.object({ id: z.string(), type: z.string() })).describe("In written order"),
  edges: z
    .array(z.object({ from: z.string(), to: z.string(), action: z.string() }))
    .describe("Routes by action (`default`, `error`, or a condition's action) and `needs` joins (`needs`)"),
  inputSchema: z.record(z.string(), z.unknown()).nullable().describe("The flow's `params:` JSON Schema, if any"),
});

type Graph = z.output<typeof GraphSchema>;

const asList = (value: unknown): string[] =>
  typeof value === "string" ? [value] : Array.isArray(value) ? value.filter((v) => typeof v === "string") : [];

/**
 * The node graph of a deployed flow, read from its YAML as written (the deploy validated it):
 * what the UI draws. Reads only routing fields, so it needs neither the sandbox nor plugins.
 */
export function flowGraphOf(source: string): Graph {
  const doc = parse(source) as { nodes?: Record<string, Record<string, unknown>>; params?: unknown } | null;
  const nodes: Graph["nodes"] = [];
  const edges: Graph["edges"] = [];
  for (const [id, node] of Object.entries(doc?.nodes ?? {})) {
    nodes.push({ id, type: typeof node?.type === "string" ? node.type : "unknown" });
    const next = node?.next;
    if (next !== null && typeof next === "object" && !Array.isArray(next)) {
      for (const [action, to] of Object.entries(next))
        for (const t of asList(to)) edges.push({ from: id, to: t, action });
    } else {
      for (const t of asList(next)) edges.push({ from: id, to: t, action: "default" });
    }
    for (const need of asList(node?.needs)) edges.push({ from: need, to: id, action: "needs" });
  }
  const params = doc?.params;
  const inputSchema = params !== null && typeof params === "object" ? (params as Record<string, unknown>) : null;
  return { nodes, edges, inputSchema };
}

/** The web UI's read-only view of a flow version: nodes, routes and input schema. */
export const workflowGraphRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/workflows/:name/versions/:version/graph",
    operationId: "getFlowGraph",
    summary: "The node graph of a flow version (nodes, routes, input schema), for drawing it",
    tag: "workflows",
    access: ACCESS.readWorkflows,
    params: z.object({ name: z.string().min(1).max(128), version: z.string().min(1).max(64) }),
    responses: { 200: { description: "The graph", schema: GraphSchema } },
    async handle({ params, auth, c, deps }) {
      const found = await deps.store.getWorkflow({
        namespace: auth.namespace,
        name: params.name,
        version: params.version,
      });
      if (!found) {
        throw new KilnError(
          "WORKFLOW_NOT_FOUND",
          `Workflow "${params.name}" has no version ${params.version} in namespace "${auth.namespace}"`,
        );
      }
      if (found.runtime !== "flow") {
        throw new KilnError(
          "INVALID_INPUT",
          `Workflow "${params.name}" is a ${found.runtime} workflow; only flows (YAML) have a node graph`,
        );
      }
      return c.json(flowGraphOf(found.source));
    },
  }),
];
