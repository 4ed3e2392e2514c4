import { z } from "zod";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { pageOf, SecretInfoSchema } from "../api-schemas.ts";

const NameParams = z.object({ name: z.string().min(1).max(128) });
const SecretResult = SecretInfoSchema.extend({ created: z.boolean() });

/** Secrets of a namespace: set, list names, delete; rotate the master key. Values are never returned. */
export const secretRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/secrets",
    operationId: "listSecrets",
    summary: "List secret names (never values)",
    tag: "secrets",
    access: ACCESS.secrets,
    responses: { 200: { description: "The secrets by name", schema: pageOf(SecretInfoSchema) } },
    async handle({ auth, c, deps }) {
      const secrets = await deps.vault.list({ namespace: auth.namespace });
      const items = secrets.map(({ name, keyId, createdAt, updatedAt }) => ({ name, keyId, createdAt, updatedAt }));
      return c.json({ items, nextCursor: null });
    },
  }),
  defineRoute({
    method: "PUT",
    path: "/v1/secrets/:name",
    operationId: "setSecret",
    summary: "Set a secret (encrypted at rest with AES-256-GCM)",
    tag: "secrets",
    access: ACCESS.secrets,
    params: NameParams,
    body: z.strictObject({ value: z.string().describe("The secret value (at most 64 KiB)") }),
    responses: {
      201: { description: "Created", schema: SecretResult },
      200: { description: "Replaced", schema: SecretResult },
    },
    async handle({ params, body, auth, c, deps }) {
      const { secret, created } = await deps.vault.set({
        namespace: auth.namespace,
        name: params.name,
        value: body.value,
      });
      deps.logger.info({ namespace: auth.namespace, name: secret.name, by: auth.principal.tokenId }, "secret set");
      const { name, keyId, createdAt, updatedAt } = secret;
      return c.json({ name, keyId, createdAt, updatedAt, created }, created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/v1/secrets/:name",
    operationId: "deleteSecret",
    summary: "Delete a secret",
    tag: "secrets",
    access: ACCESS.secrets,
    params: NameParams,
    responses: {
      200: { description: "Deleted", schema: z.object({ name: z.string(), deleted: z.literal(true) }) },
    },
    async handle({ params, auth, c, deps }) {
      await deps.vault.delete({ namespace: auth.namespace, name: params.name });
      deps.logger.info({ namespace: auth.namespace, name: params.name, by: auth.principal.tokenId }, "secret deleted");
      return c.json({ name: params.name, deleted: true as const });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/v1/secrets/rotate-key",
    operationId: "rotateSecretKey",
    summary: "Re-encrypt every secret (all namespaces) with a new master key (a `*` admin token is needed)",
    tag: "secrets",
    access: ACCESS.globalAdmin,
    responses: {
      200: {
        description: "The new key id and how many secrets were re-encrypted",
        schema: z.object({ keyId: z.string(), reencrypted: z.number().int() }),
      },
    },
    async handle({ auth, c, deps }) {
      const result = await deps.vault.rotateKey();
      deps.logger.info({ ...result, by: auth.principal.tokenId }, "master key rotated");
      return c.json(result);
    },
  }),
];
