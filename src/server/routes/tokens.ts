import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { ALL_NAMESPACES } from "../../store/control-store.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { ApiTokenSchema, pageOf, TokenRoleSchema } from "../api-schemas.ts";

/** API tokens: admins of a namespace manage its tokens; a `*` admin manages all. */
export const tokenRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/tokens",
    operationId: "listTokens",
    summary: "List tokens (never their secret): the namespace's, or every one for a `*` admin",
    tag: "tokens",
    access: ACCESS.admin,
    responses: { 200: { description: "The tokens, oldest first", schema: pageOf(ApiTokenSchema) } },
    async handle({ auth, c, deps }) {
      const mine = auth.principal.namespace;
      const items = await deps.store.listTokens(mine === ALL_NAMESPACES ? {} : { namespace: mine });
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
    summary: "Revoke a token (it stops working at once on this server, within seconds on others)",
    tag: "tokens",
    access: ACCESS.admin,
    params: z.object({ id: z.string().min(1).max(100) }),
    responses: { 200: { description: "The revoked token", schema: ApiTokenSchema } },
    async handle({ params, auth, c, deps }) {
      const mine = auth.principal.namespace;
      const token = await deps.store.revokeToken(
        mine === ALL_NAMESPACES ? { id: params.id } : { id: params.id, namespace: mine },
      );
      deps.tokens.invalidate();
      deps.logger.info({ tokenId: token.id, by: auth.principal.tokenId }, "token revoked");
      return c.json(token);
    },
  }),
];
