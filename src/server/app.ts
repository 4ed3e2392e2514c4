import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { hasCode, KilnError } from "../errors.ts";
import type { ApiRoute, AppContext, AppEnv } from "./api-route.ts";
import {
  authenticate,
  authorize,
  isLoopbackAddress,
  principalKey,
  type RequestAuth,
  requestedNamespace,
  requireCredential,
} from "./auth.ts";
import { errorResponse, sendError } from "./error-response.ts";
import { buildOpenApiDocument } from "./openapi.ts";
import { checkCookieRequestOrigin, checkJsonContentType, checkOrigin } from "./request-guard.ts";
import { limitAnonymous, limitPrincipal } from "./rate-limits.ts";
import { readJsonBody, validate } from "./request-input.ts";
import { traceRequest } from "./request-span.ts";
import { accountRoutes } from "./routes/accounts.ts";
import { auditRoutes } from "./routes/audit.ts";
import { eventRoutes } from "./routes/events.ts";
import { healthRoutes } from "./routes/health.ts";
import { namespaceRoutes } from "./routes/namespaces.ts";
import { runLogRoutes } from "./routes/run-logs.ts";
import { runRoutes } from "./routes/runs.ts";
import { secretRoutes } from "./routes/secrets.ts";
import { streamRoutes } from "./routes/stream.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { workerProtocolRoutes } from "./routes/worker-protocol.ts";
import { workerRoutes } from "./routes/workers.ts";
import { workflowRoutes } from "./routes/workflows.ts";
import { sessionRoutes } from "./routes/session.ts";
import { workflowGraphRoutes } from "./routes/workflow-graph.ts";
import { hookRoutes } from "./routes/hooks.ts";
import { webhookRoutes } from "./routes/webhooks.ts";
import { scheduleRoutes } from "./routes/schedules.ts";
import { type AppOptions, createServerDeps, type ServerDeps } from "./server-deps.ts";
import {
  isApiPath,
  isTopLevelNavigation,
  LoopbackSessions,
  readSessionCookie,
  SESSION_COOKIE,
  setSessionCookie,
} from "./session-cookie.ts";
import { mountUi } from "./ui-assets.ts";

/** Kiln's HTTP app: the Hono app (test it with `app.request()`), its routes and dependencies. */
export interface KilnApp {
  readonly app: Hono<AppEnv>;
  /** Every route, with its access and schemas (the auth walk test enumerates these). */
  readonly routes: readonly ApiRoute[];
  readonly deps: ServerDeps;
  /** The OpenAPI 3.1 document. */
  openapi(): Record<string, unknown>;
  /** Ends live feeds and the claim waiter's store subscription (not the store). */
  close(): Promise<void>;
}

/** Builds the API (no port is opened: see startServer for that). */
export function createApp(options: AppOptions): KilnApp {
  const deps = createServerDeps(options);
  const routes: ApiRoute[] = [];
  routes.push(
    ...healthRoutes({ publicMetrics: deps.auth.publicMetrics, routes: () => routes }),
    ...runRoutes,
    ...runLogRoutes,
    ...eventRoutes,
    ...workflowRoutes,
    ...workerRoutes,
    ...namespaceRoutes,
    ...tokenRoutes,
    ...secretRoutes,
    ...streamRoutes,
    ...workerProtocolRoutes,
    ...sessionRoutes,
    ...auditRoutes,
    ...workflowGraphRoutes,
    ...webhookRoutes,
    ...hookRoutes,
    ...scheduleRoutes,
    ...accountRoutes,
  );
  const app = new Hono<AppEnv>();
  app.use("*", requestLog(deps));
  app.use("*", async (c, next) => {
    deps.hosts.check(c.req.header("host"));
    checkOrigin(c);
    const session = giveLoopbackSession(c, deps);
    await next();
    // A handler that returned its own Response (a static file) dropped the prepared header.
    if (session !== undefined && !c.res.headers.getSetCookie().some((v) => v.startsWith(`${SESSION_COOKIE}=`))) {
      setSessionCookie(c, session);
    }
  });
  for (const route of routes) {
    const audited = route.method !== "GET" && !route.path.startsWith("/v1/worker/");
    app.on(route.method, route.path, audited ? (c) => handleAudited(route, c, deps) : (c) => handle(route, c, deps));
  }
  mountUi(app);
  app.notFound((c) =>
    sendError(
      c,
      new KilnError(
        "ROUTE_NOT_FOUND",
        `No route ${c.req.method} ${new URL(c.req.url).pathname}; the API is described at GET /v1/openapi.json`,
      ),
    ),
  );
  app.onError((error, c) => {
    const { status } = errorResponse(error, c.get("requestId") ?? "-");
    if (status >= 500) deps.logger.error({ err: error, requestId: c.get("requestId") }, "request failed");
    return sendError(c, error);
  });
  return {
    app,
    routes,
    deps,
    openapi: () => buildOpenApiDocument(routes, { version: deps.version }),
    close: async () => {
      await deps.audit.close();
      deps.live.close();
      await deps.claims.close();
    },
  };
}

async function handle(route: ApiRoute, c: AppContext, deps: ServerDeps): Promise<Response> {
  c.set("route", route.path);
  let auth: RequestAuth | undefined;
  if (route.access.roles === "public") limitAnonymous(c, deps);
  else {
    const who = await authenticateLimited(c, deps, route.queryToken === true);
    requireCredential(c, deps, who, route.access);
    if (who.via === "cookie") checkCookieRequestOrigin(c);
    const { principal } = who;
    limitPrincipal(deps, principal);
    auth = await authorize(c, deps, principal, route.access);
    c.set("auth", auth);
  }
  const params = route.params ? validate(route.params, c.req.param(), "params") : undefined;
  const query = route.query ? validate(route.query, c.req.query(), "query") : undefined;
  let body: unknown;
  if (route.body) {
    const max = route.maxBodyBytes === "worker" ? deps.limits.workerBodyBytes : deps.limits.apiBodyBytes;
    checkJsonContentType(c);
    const raw = await readJsonBody(c, max);
    body = route.fastBody?.(raw) === true ? raw : validate(route.body, raw, "body");
  }
  return route.handle({ params, query, body, auth: auth as RequestAuth, c, deps });
}

/**
 * Authenticates a request; a failed attempt counts against the client address's rate, so that
 * passwords and tokens cannot be guessed at the speed of the network.
 */
async function authenticateLimited(c: AppContext, deps: ServerDeps, allowQueryToken: boolean) {
  try {
    return await authenticate(c, deps, allowQueryToken);
  } catch (error) {
    if (hasCode(error, "UNAUTHENTICATED")) limitAnonymous(c, deps);
    throw error;
  }
}

/**
 * Runs a state-changing route and records one audit record for it, refused or not: the caller,
 * the namespace, the route and its path parameters (names and ids, never a body), the outcome.
 */
async function handleAudited(route: ApiRoute, c: AppContext, deps: ServerDeps): Promise<Response> {
  let status = 500;
  let outcome = "INTERNAL";
  try {
    const response = await handle(route, c, deps);
    status = response.status;
    outcome = status < 400 ? "ok" : `HTTP_${status}`;
    return response;
  } catch (error) {
    const answer = errorResponse(error, c.get("requestId") ?? "-");
    status = answer.status;
    outcome = answer.body.error.code;
    throw error;
  } finally {
    const auth = c.get("auth");
    const principal = auth?.principal;
    deps.audit.record({
      namespace: clip(auth?.namespace ?? requestedNamespace(c) ?? "-"),
      actor: principal === undefined ? "anonymous" : principalKey(principal),
      actorName: principal?.name ?? "",
      action: route.operationId,
      method: route.method,
      route: route.path,
      target: Object.fromEntries(Object.entries(c.req.param() as Record<string, string>).map(([k, v]) => [k, clip(v)])),
      requestId: c.get("requestId") ?? "-",
      status,
      outcome,
    });
  }
}

/** An audit field as the caller sent it, cut to a length that keeps the log small. */
const clip = (value: string) => (value.length > 200 ? `${value.slice(0, 200)}…` : value);

/**
 * In loopback-open mode, a top-level navigation to a UI page (any path outside the API) from
 * loopback gets a loopback session cookie, so the UI opens without a login and without a token
 * in its URL or scripts. A token session the user signed in with is kept.
 */
function giveLoopbackSession(c: AppContext, deps: ServerDeps): string | undefined {
  if (deps.auth.mode !== "loopback-open") return undefined;
  if ((c.req.method !== "GET" && c.req.method !== "HEAD") || isApiPath(c.req.path)) return undefined;
  if (!isLoopbackAddress(c.env?.incoming?.socket?.remoteAddress) || !isTopLevelNavigation(c)) return undefined;
  const current = readSessionCookie(c);
  if (current !== undefined && !(LoopbackSessions.isLoopbackValue(current) && !deps.sessions.verify(current))) {
    return undefined;
  }
  const session = deps.sessions.issue();
  setSessionCookie(c, session);
  return session;
}

/** Request ids, HTTP metrics and one structured log line per request (never the query string). */
function requestLog(deps: ServerDeps) {
  return async (c: AppContext, next: () => Promise<void>) => {
    const requestId = c.req.header("x-request-id")?.slice(0, 64) || randomUUID();
    c.set("requestId", requestId);
    // Set before the handler runs: the header then goes into the response the handler builds.
    // Setting it afterwards would turn the adapter's cheap cached response into a web Response
    // whose body is read back through a stream (a large share of a worker request's cost).
    c.header("X-Request-Id", requestId);
    const started = performance.now();
    await traceRequest(c, next);
    if (!c.res.headers.has("X-Request-Id")) c.header("X-Request-Id", requestId);
    const ms = performance.now() - started;
    const route = c.get("route") ?? "unmatched";
    const status = c.res.status;
    deps.metrics.httpRequests.inc({ method: c.req.method, route, status: String(status) });
    deps.metrics.httpDuration.observe({ method: c.req.method, route }, ms / 1000);
    const auth = c.get("auth");
    // One line per request at debug: at info a worker's long-polls and a dev UI's reads would
    // bury what a person reads the log for. Failures of the server itself stay errors.
    deps.logger[status >= 500 ? "error" : "debug"](
      {
        requestId,
        method: c.req.method,
        route,
        status,
        ms: Math.round(ms * 10) / 10,
        ...(auth === undefined ? {} : { tokenId: auth.principal.tokenId, namespace: auth.namespace }),
      },
      "request",
    );
  };
}
