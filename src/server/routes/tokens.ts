import { z } from "zod";
import { hasCode, KilnError } from "../../errors.ts";
import { ALL_NAMESPACES } from "../../store/control-store.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { ApiTokenSchema, pageOf, TokenRoleSchema } from "../api-schemas.ts";

/** API tokens: admins of a namespace manage its tokens; a `*` admin manages all. */
export const tokenRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/tokens",
    operationId: "listTokens",
    summary:
      "List the namespace's tokens (never their secret); a `*` admin also sees `*` tokens, or every token with all=true",
    tag: "tokens",
    access: ACCESS.admin,
    query: z.object({
      all: z.enum(["true", "false", "1", "0"]).optional().describe("Every namespace's tokens (`*` admins)"),
    }),
    responses: { 200: { description: "The tokens, oldest first", schema: pageOf(ApiTokenSchema) } },
    async handle({ query, auth, c, deps }) {
      const global = auth.principal.namespace === ALL_NAMESPACES;
      if (query.all === "true" || query.all === "1") {
        if (!global)
          throw new KilnError("FORBIDDEN", 'Listing every namespace\'s tokens needs a token for namespace "*"');
        return c.json({ items: await deps.store.listTokens({}), nextCursor: null });
      }
      const items = await deps.store.listTokens({ namespace: auth.namespace });
      if (global) items.push(...(await deps.store.listTokens({ namespace: ALL_NAMESPACES })));
      items.sort((x, y) => x.createdAt - y.createdAt || (x.id < y.id ? -1 : 1));
      return c.json({ items, nextCursor: null });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/tokens",
    operationId: "createToken",
    summary: "Create a token; its secret is in this response only",
    tag: "tokens",
    access: ACCESS.admin,
    body: z.strictObject({
      name: z.string().min(1).max(200),
      role: TokenRoleSchema,
      namespace: z
        .string()
        .min(1)
        .optional()
        .describe('Default: the request\'s namespace; "*" (every namespace) needs a `*` admin'),
    }),
    responses: {
      201: {
        description: "The token and its secret (`token`), shown once",
        schema: ApiTokenSchema.extend({ token: z.string().describe("The secret: kiln_…") }),
      },
    },
    async handle({ body, auth, c, deps }) {
      const namespace = body.namespace ?? auth.namespace;
      const mine = auth.principal.namespace;
      if (mine !== ALL_NAMESPACES && namespace !== mine) {
        throw new KilnError(
          "FORBIDDEN",
          `This token belongs to namespace "${mine}" and may not create tokens for "${namespace}"`,
        );
      }
      if (namespace !== ALL_NAMESPACES && !(await deps.namespaces.exists(namespace))) {
        throw new KilnError("NAMESPACE_NOT_FOUND", `No namespace "${namespace}"`);
      }
      const { token, plaintext } = await deps.store.createToken({ name: body.name, role: body.role, namespace });
      deps.logger.info({ tokenId: token.id, role: token.role, namespace, by: auth.principal.tokenId }, "token created");
      return c.json({ ...token, token: plaintext }, 201);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/v1/tokens/:id",
    operationId: "revokeToken",
    summary:
      "Revoke a token of the namespace (a `*` admin: also `*` tokens); it stops working at once here, within seconds on other servers",
    tag: "tokens",
    access: ACCESS.admin,
    params: z.object({ id: z.string().min(1).max(100) }),
    responses: { 200: { description: "The revoked token", schema: ApiTokenSchema } },
    async handle({ params, auth, c, deps }) {
      // A token of the request's namespace; a `*` admin may also revoke `*` tokens.
      const token = await deps.store
        .revokeToken({ id: params.id, namespace: auth.namespace })
        .catch(async (error: unknown) => {
          if (!hasCode(error, "TOKEN_NOT_FOUND") || auth.principal.namespace !== ALL_NAMESPACES) throw error;
          return deps.store.revokeToken({ id: params.id, namespace: ALL_NAMESPACES });
        });
      deps.tokens.invalidate();
      deps.logger.info({ tokenId: token.id, by: auth.principal.tokenId }, "token revoked");
      return c.json(token);
    },
  }),
];
