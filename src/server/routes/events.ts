import { z } from "zod";
import { MAX_DURATION_MS } from "../api-schemas.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";

/** Events: send a named payload (with an optional correlation key) to the namespace. */
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
];
