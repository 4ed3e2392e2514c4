import { z } from "zod";
import { KilnError } from "../../errors.ts";
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
});

function mode(deps: ServerDeps): "loopback-open" | "auth" {
  return deps.auth.mode === "loopback-open" ? "loopback-open" : "auth";
}

function describe(deps: ServerDeps, who: Authenticated) {
  return { namespace: who.principal.namespace, role: who.principal.role, mode: mode(deps), via: who.via };
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
 * The web UI's session (session-cookie.ts): sign in with a token, ask who the session is, sign
 * out. Public routes: each checks its own credential.
 */
export const sessionRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "POST",
    path: "/v1/session",
    operationId: "createSession",
    summary: "Sign the browser in: checks the token and sets the HttpOnly `kiln_session` cookie",
    tag: "session",
    access: ACCESS.public,
    body: z
      .strictObject({ token: z.string().min(1).max(512).optional() })
      .describe("The token to sign in with; without it, the request's bearer token")
      .optional(),
    responses: { 200: { description: "The session (the cookie is set)", schema: SessionSchema } },
    async handle({ body, c, deps }) {
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
      401: { description: "No session, and this server requires one" },
    },
    async handle({ c, deps }) {
      c.header("Cache-Control", "no-store");
      return c.json(await currentSession(c, deps));
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
    handle({ c }) {
      clearSessionCookie(c);
      return c.body(null, 204);
    },
  }),
];
