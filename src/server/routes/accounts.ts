import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { ACCOUNT_ROLES } from "../../store/account-store.ts";
import { ALL_NAMESPACES } from "../../store/control-store.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { pageOf } from "../api-schemas.ts";
import { hashPassword } from "../password-hash.ts";
import type { ServerDeps } from "../server-deps.ts";

const AccountSchema = z.object({
  name: z.string(),
  namespace: z.string().describe('A namespace, or "*" for every namespace'),
  role: z.enum(ACCOUNT_ROLES),
  createdAt: z.number(),
  updatedAt: z.number(),
  lastLoginAt: z.number().nullable(),
});

const Password = z.string().min(1).max(1024).describe("The password (at least 8 characters, not starting with kiln_)");

async function checkNamespace(deps: ServerDeps, namespace: string): Promise<void> {
  if (namespace !== ALL_NAMESPACES && !(await deps.namespaces.exists(namespace))) {
    throw new KilnError(
      "NAMESPACE_NOT_FOUND",
      `No namespace "${namespace}"; create it with \`kiln namespaces create ${namespace}\``,
    );
  }
}

/**
 * Accounts (users with passwords): server-wide, so only a `*` admin manages them. Passwords
 * arrive in request bodies (never in a URL) and are hashed before they reach the store.
 */
export const accountRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/accounts",
    operationId: "listAccounts",
    summary: "List the accounts (never their password hashes)",
    tag: "accounts",
    access: ACCESS.globalAdmin,
    responses: { 200: { description: "The accounts, by name", schema: pageOf(AccountSchema) } },
    async handle({ c, deps }) {
      return c.json({ items: await deps.store.accounts.listAccounts(), nextCursor: null });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/accounts",
    operationId: "createAccount",
    summary: "Create an account with a role in one namespace (or `*`)",
    tag: "accounts",
    access: ACCESS.globalAdmin,
    body: z.strictObject({
      name: z.string().min(1).max(64),
      role: z.enum(ACCOUNT_ROLES),
      namespace: z.string().min(1).optional().describe('Default: "default"; "*" for every namespace'),
      password: Password,
    }),
    responses: { 201: { description: "The account", schema: AccountSchema } },
    async handle({ body, c, deps }) {
      const namespace = body.namespace ?? "default";
      await checkNamespace(deps, namespace);
      const account = await deps.store.accounts.createAccount({
        name: body.name,
        role: body.role,
        namespace,
        passwordHash: await hashPassword(body.password),
      });
      deps.accounts.invalidate();
      return c.json(account, 201);
    },
  }),
  defineRoute({
    method: "PUT",
    path: "/v1/accounts/:name/password",
    operationId: "setAccountPassword",
    summary: "Change an account's password (its UI sessions end)",
    tag: "accounts",
    access: ACCESS.globalAdmin,
    params: z.object({ name: z.string().min(1).max(64) }),
    body: z.strictObject({ password: Password }),
    responses: { 200: { description: "The account", schema: AccountSchema } },
    async handle({ params, body, c, deps }) {
      const account = await deps.store.accounts.setAccountPassword({
        name: params.name,
        passwordHash: await hashPassword(body.password),
      });
      deps.accounts.invalidate();
      return c.json(account);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/v1/accounts/:name",
    operationId: "deleteAccount",
    summary: "Delete an account (its UI sessions end)",
    tag: "accounts",
    access: ACCESS.globalAdmin,
    params: z.object({ name: z.string().min(1).max(64) }),
    responses: { 204: { description: "Deleted" } },
    async handle({ params, c, deps }) {
      if (!(await deps.store.accounts.deleteAccount({ name: params.name }))) {
        throw new KilnError("ACCOUNT_NOT_FOUND", `No account "${params.name}"; list them with \`kiln users list\``);
      }
      deps.accounts.invalidate();
      return c.body(null, 204);
    },
  }),
];
