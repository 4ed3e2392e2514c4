import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { type Access, ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { buildOpenApiDocument } from "../openapi.ts";

/** Probes, metrics, the OpenAPI document and "who am I". */
export function healthRoutes(options: { publicMetrics: boolean; routes: () => readonly ApiRoute[] }): ApiRoute[] {
  let openapi: Record<string, unknown> | undefined;
  const metricsAccess: Access = options.publicMetrics ? ACCESS.public : ACCESS.globalRead;
  return [
    defineRoute({
      method: "GET",
      path: "/healthz",
      operationId: "healthz",
      summary: "Liveness: the process answers",
      tag: "health",
      access: ACCESS.public,
      responses: { 200: { description: "Alive", schema: z.object({ status: z.literal("ok") }) } },
      handle: ({ c }) => c.json({ status: "ok" as const }),
    }),
    defineRoute({
      method: "GET",
      path: "/readyz",
      operationId: "readyz",
      summary: "Readiness: the store answers",
      tag: "health",
      access: ACCESS.public,
      responses: { 200: { description: "Ready", schema: z.object({ status: z.literal("ready"), store: z.string() }) } },
      async handle({ c, deps }) {
        try {
          await deps.store.getNamespace({ name: "default" });
        } catch (cause) {
          throw new KilnError(
            "STORE_UNAVAILABLE",
            `The ${deps.store.dialect} store does not answer: ${(cause as Error).message}`,
            { cause },
          );
        }
        return c.json({ status: "ready" as const, store: deps.store.dialect });
      },
    }),
    defineRoute({
      method: "GET",
      path: "/metrics",
      operationId: "metrics",
      summary: "Prometheus metrics (runs by status, queue depth, claim latency, step durations, worker heartbeats)",
      tag: "health",
      access: metricsAccess,
      responses: { 200: { description: "Prometheus text format", mediaType: "text/plain" } },
      async handle({ c, deps }) {
        const text = await deps.metrics.registry.metrics();
        return c.body(text, 200, { "Content-Type": deps.metrics.registry.contentType });
      },
    }),
    defineRoute({
      method: "GET",
      path: "/v1/openapi.json",
      operationId: "openapi",
      summary: "This API's OpenAPI 3.1 document",
      tag: "health",
      access: ACCESS.public,
      responses: { 200: { description: "OpenAPI 3.1", schema: z.record(z.string(), z.unknown()) } },
      handle({ c, deps }) {
        openapi ??= buildOpenApiDocument(options.routes(), { version: deps.version });
        return c.json(openapi);
      },
    }),
    defineRoute({
      method: "GET",
      path: "/v1/whoami",
      operationId: "whoami",
      summary: "The caller's token, role and the namespace the request acts in",
      tag: "health",
      access: ACCESS.readRuns,
      responses: {
        200: {
          description: "The caller",
          schema: z.object({
            tokenId: z.string().nullable(),
            name: z.string(),
            role: z.string(),
            tokenNamespace: z.string(),
            namespace: z.string(),
            version: z.string(),
          }),
        },
      },
      handle({ auth, c, deps }) {
        const p = auth.principal;
        return c.json({
          tokenId: p.tokenId,
          name: p.name,
          role: p.role,
          tokenNamespace: p.namespace,
          namespace: auth.namespace,
          version: deps.version,
        });
      },
    }),
  ];
}
