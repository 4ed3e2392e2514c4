import { z } from "zod";
import type { ApiRoute } from "./api-route.ts";
import { NAMED_SCHEMAS } from "./api-schemas.ts";

type JsonObject = Record<string, unknown>;

/** `/v1/runs/:id` → `/v1/runs/{id}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function clean(schema: JsonObject): JsonObject {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

function capitalized(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * The OpenAPI 3.1 document of the API, generated from the routes' zod schemas (JSON Schema
 * 2020-12, OpenAPI 3.1's dialect). Shared schemas are components; each route's body and
 * responses are named after its operationId.
 */
export function buildOpenApiDocument(routes: readonly ApiRoute[], info: { version: string }): JsonObject {
  const registry = z.registry<{ id: string }>();
  const idOf = new Map<z.ZodType, string>();
  const name = (schema: z.ZodType, id: string): string => {
    const known = idOf.get(schema);
    if (known !== undefined) return known;
    registry.add(schema, { id });
    idOf.set(schema, id);
    return id;
  };
  for (const [id, schema] of Object.entries(NAMED_SCHEMAS)) name(schema, id);

  const paths: Record<string, Record<string, JsonObject>> = {};
  const pending: { op: JsonObject; route: ApiRoute }[] = [];
  for (const route of routes) {
    const op: JsonObject = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      ...(route.access.roles === "public"
        ? { security: [] }
        : {
            "x-kiln-roles": route.access.roles,
            "x-kiln-scope": route.access.scope,
            ...(route.access.tokenRequired === true ? { "x-kiln-token-required": true } : {}),
          }),
    };
    if (route.body) name(route.body, `${capitalized(route.operationId)}Body`);
    for (const [status, r] of Object.entries(route.responses)) {
      if (r.schema) name(r.schema, `${capitalized(route.operationId)}${status}`);
      if (r.stream) name(r.stream, `${capitalized(route.operationId)}${status}Event`);
    }
    const path = openApiPath(route.path);
    paths[path] ??= {};
    (paths[path] as Record<string, JsonObject>)[route.method.toLowerCase()] = op;
    pending.push({ op, route });
  }

  const converted = z.toJSONSchema(registry, {
    uri: (id) => `#/components/schemas/${id}`,
    io: "input",
    unrepresentable: "any",
  }).schemas;
  const schemas: Record<string, JsonObject> = {};
  for (const [id, s] of Object.entries(converted)) schemas[id] = clean(s as JsonObject);
  const ref = (schema: z.ZodType) => ({ $ref: `#/components/schemas/${idOf.get(schema)}` });

  for (const { op, route } of pending) {
    const parameters: JsonObject[] = [];
    const addParams = (schema: z.ZodType | undefined, where: "path" | "query") => {
      if (!(schema instanceof z.ZodObject)) return;
      const json = clean(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonObject);
      const props = (json.properties ?? {}) as Record<string, JsonObject>;
      const required = new Set((json.required ?? []) as string[]);
      for (const [param, s] of Object.entries(props)) {
        const { description, ...rest } = s;
        parameters.push({
          name: param,
          in: where,
          required: where === "path" || required.has(param),
          schema: rest,
          ...(description === undefined ? {} : { description }),
        });
      }
    };
    addParams(route.params, "path");
    addParams(route.query, "query");
    if (route.access.roles !== "public") {
      parameters.push({
        name: "Kiln-Namespace",
        in: "header",
        required: false,
        schema: { type: "string" },
        description: "The namespace to act in (or ?namespace=); default: the token's namespace",
      });
    }
    if (parameters.length > 0) op.parameters = parameters;
    if (route.body) op.requestBody = { required: true, content: { "application/json": { schema: ref(route.body) } } };
    const responses: Record<string, JsonObject> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      const mediaType = r.mediaType ?? "application/json";
      const content: Record<string, JsonObject> = {};
      if (r.schema || r.mediaType) content[mediaType] = r.schema ? { schema: ref(r.schema) } : {};
      if (r.stream) content["text/event-stream"] = { schema: ref(r.stream) };
      responses[status] = { description: r.description, ...(Object.keys(content).length > 0 ? { content } : {}) };
    }
    responses.default = {
      description: "An error: the code says what (src/errors.ts), the message what to fix",
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
    };
    op.responses = responses;
  }

  return {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    info: {
      title: "Kiln API",
      version: info.version,
      description:
        'The HTTP API of Kiln, a durable workflow engine. Authenticate with `Authorization: Bearer kiln_…` (or Basic with the token as password); choose the namespace with the `Kiln-Namespace` header. Errors are `{ "error": { "code", "message" } }`. Browser requests from another origin (Origin, Sec-Fetch-Site) get 403 CROSS_ORIGIN_FORBIDDEN, bodies must be application/json (415), and routes marked x-kiln-token-required need a credential even on a loopback-open server.',
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }, { basic: [] }, { session: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", bearerFormat: "kiln_…" },
        basic: { type: "http", scheme: "basic", description: "Any user name; the password is the token" },
        session: {
          type: "apiKey",
          in: "cookie",
          name: "kiln_session",
          description:
            "The web UI's HttpOnly session cookie (POST /v1/session); unsafe methods also need the server's own Origin",
        },
      },
    },
  };
}
