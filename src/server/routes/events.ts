import { z } from "zod";
import { MAX_DURATION_MS } from "../../remote/wire-schemas.ts";
import { pageOf } from "../api-schemas.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";

const EventSchema = z.object({
  id: z.string(),
  name: z.string(),
  key: z.string().nullable(),
  payload: z.unknown(),
  createdAt: z.number(),
  expiresAt: z.number().describe("When the event is forgotten"),
  deliveredTo: z.string().nullable().describe("The run that received it; null while buffered"),
  deliveredAt: z.number().nullable(),
});

/** Events: send a named payload (with an optional correlation key) to the namespace; list them. */
export const eventRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "POST",
    path: "/v1/events",
    operationId: "sendEvent",
    summary: "Send an event: delivered to the oldest matching waiter, else buffered until retention ends",
    tag: "events",
    access: ACCESS.write,
    body: z.strictObject({
      name: z.string().min(1).max(200),
      key: z.string().min(1).max(500).optional().describe("Correlation key: only waiters for this key (or none) match"),
      payload: z.unknown().optional(),
      retentionMs: z
        .number()
        .int()
        .positive()
        .max(MAX_DURATION_MS)
        .optional()
        .describe("How long an undelivered event is kept; default 7 days"),
    }),
    responses: {
      201: {
        description: "The event id and the run it was delivered to (null: buffered)",
        schema: z.object({ eventId: z.string(), deliveredTo: z.string().nullable() }),
      },
    },
    async handle({ body, auth, c, deps }) {
      const result = await deps.store.sendEvent({
        namespace: auth.namespace,
        name: body.name,
        payload: body.payload ?? null,
        ...(body.key === undefined ? {} : { key: body.key }),
        ...(body.retentionMs === undefined ? {} : { retentionMs: body.retentionMs }),
      });
      if (result.deliveredTo !== null) deps.live.poke([result.deliveredTo], auth.namespace);
      return c.json(result, 201);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/events",
    operationId: "listEvents",
    summary: "List the events kept in the namespace, newest first: delivered ones and buffered ones",
    tag: "events",
    access: ACCESS.read,
    query: z.object({
      name: z.string().min(1).max(200).optional(),
      buffered: z.enum(["true", "false"]).optional().describe("true: only events no run has received yet"),
      limit: z.coerce.number().int().min(1).max(1000).optional(),
      cursor: z.string().max(100).optional().describe("The nextCursor of the previous page"),
    }),
    responses: { 200: { description: "A page of events", schema: pageOf(EventSchema) } },
    async handle({ query, auth, c, deps }) {
      const page = await deps.store.listEvents({
        namespace: auth.namespace,
        ...(query.name === undefined ? {} : { name: query.name }),
        ...(query.buffered === "true" ? { buffered: true } : {}),
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
      return c.json({ items: page.events, nextCursor: page.nextCursor });
    },
  }),
];
