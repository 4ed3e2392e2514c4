import { z } from "zod";
import { hasCode, KilnError } from "../../errors.ts";
import { ACCOUNT_SESSION_PREFIX } from "../../store/account-store.ts";
import { ACCOUNT_SESSION_TTL_MS } from "../account-auth.ts";
import { ACCESS, type ApiRoute, type AppContext, defineRoute } from "../api-route.ts";
import { type Authenticated, authenticate, isLoopbackAddress, requestToken, tokenPrincipal } from "../auth.ts";
import type { ServerDeps } from "../server-deps.ts";
import {
  clearSessionCookie,
  LOOPBACK_SESSION_PRINCIPAL,
  LoopbackSessions,
  readSessionCookie,
  setSessionCookie,
} from "../session-cookie.ts";

const SessionSchema = z.object({
  namespace: z.string().describe("The session's namespace (`*`: every namespace)"),
  role: z.enum(["admin", "developer", "viewer", "worker"]),
  mode: z.enum(["loopback-open", "auth"]).describe("`loopback-open`: the server needs no login from loopback"),
  via: z
    .enum(["header", "query", "cookie", "none"])
    .describe("How this request was authenticated (`cookie`: the session cookie)"),
  account: z.string().optional().describe("The account signed in, when the session is an account's"),
});

function mode(deps: ServerDeps): "loopback-open" | "auth" {
  return deps.auth.mode === "loopback-open" ? "loopback-open" : "auth";
}

function describe(deps: ServerDeps, who: Authenticated) {
  return {
    namespace: who.principal.namespace,
    role: who.principal.role,
    mode: mode(deps),
    via: who.via,
    ...(who.principal.kind === "account" ? { account: who.principal.name } : {}),
  };
}

/** Signs an account in: checks its password and starts a session kept in the store. */
async function accountSession(c: AppContext, deps: ServerDeps, name: string, password: string) {
  const principal = await deps.accounts.verify(name, password);
  // The audit record of this sign-in names the account (the route itself is public).
  c.set("auth", { principal, namespace: principal.namespace });
  const session = await deps.store.accounts.createAccountSession({ account: name, ttlMs: ACCOUNT_SESSION_TTL_MS });
  await deps.store.accounts.touchAccount({ name });
  setSessionCookie(c, session, ACCOUNT_SESSION_TTL_MS);
  return describe(deps, { principal, via: "cookie" });
}

/**
 * Who the session is. In loopback-open mode a loopback caller without a session, or with a
 * loopback session of an earlier server process, is given a new loopback session.
 */
async function currentSession(c: AppContext, deps: ServerDeps) {
  const cookie = readSessionCookie(c);
  const renew =
    deps.auth.mode === "loopback-open" &&
    c.req.header("authorization") === undefined &&
    isLoopbackAddress(c.env?.incoming?.socket?.remoteAddress) &&
    (cookie === undefined || (LoopbackSessions.isLoopbackValue(cookie) && !deps.sessions.verify(cookie)));
  if (!renew) return describe(deps, await authenticate(c, deps, false));
  setSessionCookie(c, deps.sessions.issue());
  return describe(deps, { principal: LOOPBACK_SESSION_PRINCIPAL, via: "cookie" });
}

/**
 * The web UI's session (session-cookie.ts): sign in with a token or an account, ask who the session is, sign
 * out. Public routes: each checks its own credential.
 */
export const sessionRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "POST",
    path: "/v1/session",
    operationId: "createSession",
    summary:
      "Sign the browser in with a token or an account's name and password; sets the HttpOnly `kiln_session` cookie",
    tag: "session",
    access: ACCESS.public,
    body: z
      .strictObject({
        token: z.string().min(1).max(512).optional(),
        name: z.string().min(1).max(64).optional().describe("An account's name (with password)"),
        password: z.string().min(1).max(1024).optional(),
      })
      .describe("The token, or an account's name and password; without a body, the request's bearer token")
      .optional(),
    responses: { 200: { description: "The session (the cookie is set)", schema: SessionSchema } },
    async handle({ body, c, deps }) {
      c.header("Cache-Control", "no-store");
      if (body?.name !== undefined || body?.password !== undefined) {
        if (body.name === undefined || body.password === undefined) {
          throw new KilnError(
            "INVALID_INPUT",
            'Send both the account\'s name and password: { "name": …, "password": … }',
          );
        }
        return c.json(await accountSession(c, deps, body.name, body.password));
      }
      const token = body?.token ?? requestToken(c, false);
      if (token === undefined || token === "") {
        throw new KilnError("UNAUTHENTICATED", 'Send the token to sign in with as JSON: { "token": "kiln_…" }');
      }
      const principal = await tokenPrincipal(deps, token);
      setSessionCookie(c, token);
      c.header("Cache-Control", "no-store");
      return c.json(describe(deps, { principal, via: "cookie" }));
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/session",
    operationId: "getSession",
    summary: "The current session (cookie or bearer token): namespace, role and the server's auth mode",
    tag: "session",
    access: ACCESS.public,
    responses: {
      200: { description: "The session", schema: SessionSchema },
      401: {
        description:
          "No session, and this server requires one; `error.data.accounts` says whether accounts can sign in",
      },
    },
    async handle({ c, deps }) {
      c.header("Cache-Control", "no-store");
      try {
        return c.json(await currentSession(c, deps));
      } catch (error) {
        // The sign-in page asks for a name and password when accounts exist, else for a token.
        if (!hasCode(error, "UNAUTHENTICATED")) throw error;
        const accounts = await deps.store.accounts.hasAccounts();
        throw new KilnError("UNAUTHENTICATED", (error as KilnError).message, { data: { accounts } });
      }
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/v1/session",
    operationId: "deleteSession",
    summary: "Sign the browser out: clears the `kiln_session` cookie",
    tag: "session",
    access: ACCESS.public,
    responses: { 204: { description: "The cookie is cleared" } },
    async handle({ c, deps }) {
      const cookie = readSessionCookie(c);
      if (cookie?.startsWith(ACCOUNT_SESSION_PREFIX))
        await deps.store.accounts.deleteAccountSession({ plaintext: cookie });
      clearSessionCookie(c);
      return c.body(null, 204);
    },
  }),
];
