import { z } from "zod";
import { ALL_NAMESPACES } from "../../store/control-store.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { NamespaceSchema, pageOf } from "../api-schemas.ts";

/** Namespaces: the tenant boundary. A token sees its own; a `*` token sees and creates all. */
export const namespaceRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/namespaces",
    operationId: "listNamespaces",
    summary: "List the namespaces this token may act in",
    tag: "namespaces",
    access: ACCESS.readRuns,
    responses: { 200: { description: "The namespaces by name", schema: pageOf(NamespaceSchema) } },
    async handle({ auth, c, deps }) {
      const all = await deps.store.listNamespaces();
      const mine = auth.principal.namespace;
      const items = mine === ALL_NAMESPACES ? all : all.filter((n) => n.name === mine);
      return c.json({ items, nextCursor: null });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/namespaces",
    operationId: "createNamespace",
    summary: "Create a namespace (a `*` admin token is needed)",
    tag: "namespaces",
    access: ACCESS.globalAdmin,
    body: z.strictObject({
      name: z.string().min(1).max(63).describe("Lower-case letters, digits, _ . -"),
      description: z.string().max(2000).optional(),
    }),
    responses: {
      201: { description: "The new namespace", schema: NamespaceSchema },
      200: { description: "It already existed", schema: NamespaceSchema },
    },
    async handle({ body, c, deps }) {
      const { namespace, created } = await deps.store.createNamespace({
        name: body.name,
        ...(body.description === undefined ? {} : { description: body.description }),
      });
      deps.namespaces.add(namespace.name);
      return c.json(namespace, created ? 201 : 200);
    },
  }),
];
