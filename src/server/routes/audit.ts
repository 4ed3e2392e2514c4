import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { ALL_NAMESPACES } from "../../store/control-store.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { pageOf } from "../api-schemas.ts";

const AuditRecordSchema = z.object({
  id: z.number().int(),
  at: z.number().int().describe("Unix ms"),
  namespace: z.string(),
  actor: z.string().describe("Token id, or loopback / session / anonymous"),
  actorName: z.string(),
  action: z.string().describe("The route's operationId"),
  method: z.string(),
  route: z.string(),
  target: z.record(z.string(), z.string()).describe("Path parameters: ids and names, never bodies"),
  requestId: z.string(),
  status: z.number().int(),
  outcome: z.string().describe("ok, or the error code"),
});

/** The audit log: every state-changing call, newest first (admins). */
export const auditRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/audit",
    operationId: "listAudit",
    summary: "List audit records of the namespace (a `*` admin: every namespace with all=true), newest first",
    tag: "audit",
    access: ACCESS.admin,
    query: z.object({
      actor: z.string().max(200).optional().describe("Token id or name"),
      action: z.string().max(100).optional().describe("operationId, e.g. setSecret"),
      since: z.coerce.number().int().min(0).optional().describe("Unix ms"),
      cursor: z
        .string()
        .regex(/^\d{1,18}$/)
        .optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      all: z.enum(["true", "false", "1", "0"]).optional(),
    }),
    responses: { 200: { description: "Audit records", schema: pageOf(AuditRecordSchema) } },
    async handle({ query, auth, c, deps }) {
      const all = query.all === "true" || query.all === "1";
      if (all && auth.principal.namespace !== ALL_NAMESPACES) {
        throw new KilnError("FORBIDDEN", 'Every namespace\'s audit records need a token for namespace "*"');
      }
      await deps.audit.flush();
      const page = await deps.store.audit.listAuditRecords({
        ...(all ? {} : { namespaces: [auth.namespace] }),
        ...(query.actor === undefined ? {} : { actor: query.actor }),
        ...(query.action === undefined ? {} : { action: query.action }),
        ...(query.since === undefined ? {} : { since: query.since }),
        ...(query.cursor === undefined ? {} : { before: Number(query.cursor) }),
        limit: query.limit,
      });
      return c.json(page);
    },
  }),
];
