import { upgradeWebSocket } from "@hono/node-server";
import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { ACCESS, type ApiRoute, type AppContext, defineRoute } from "../api-route.ts";
import { LiveEventSchema } from "../api-schemas.ts";
import { LIVE_EVENT_TYPES, type LiveEvent, type LiveEventType } from "../live-events.ts";
import type { LiveSubscription } from "../live-hub.ts";
import type { ServerDeps } from "../server-deps.ts";
import { sendEventStream } from "../sse.ts";
import { getRunOrThrow } from "./runs.ts";

const StreamQuery = z.object({
  runId: z
    .string()
    .min(1)
    .optional()
    .describe("Follow one run (all its events, ending when it ends); default: the namespace's runs"),
  after: z.coerce.number().int().min(0).optional().describe("With runId: log lines after this seq"),
  types: z
    .string()
    .optional()
    .describe(`Comma-separated event types to send: ${LIVE_EVENT_TYPES.join(", ")}`),
});
type StreamQuery = z.output<typeof StreamQuery>;

function parseTypes(text: string | undefined): ReadonlySet<LiveEventType> | undefined {
  if (text === undefined || text === "") return undefined;
  const types = text.split(",").map((t) => t.trim());
  for (const t of types) {
    if (!(LIVE_EVENT_TYPES as readonly string[]).includes(t)) {
      throw new KilnError(
        "INVALID_INPUT",
        `Invalid request query.types: unknown event type "${t}"; expected ${LIVE_EVENT_TYPES.join(", ")}`,
      );
    }
  }
  return new Set(types as LiveEventType[]);
}

/** Validates the query (and the run's namespace) and returns how to subscribe. */
async function feed(deps: ServerDeps, namespace: string, query: StreamQuery) {
  const types = parseTypes(query.types);
  if (query.runId !== undefined) await getRunOrThrow(deps.store, namespace, query.runId);
  return (emit: (e: LiveEvent) => void): LiveSubscription =>
    query.runId === undefined
      ? deps.live.followNamespace({ namespace, ...(types === undefined ? {} : { types }) }, emit)
      : deps.live.followRun(
          {
            namespace,
            runId: query.runId,
            ...(query.after === undefined ? {} : { afterSeq: query.after }),
            ...(types === undefined ? {} : { types }),
          },
          emit,
        );
}

async function openWebSocket(
  c: AppContext,
  subscribe: (emit: (e: LiveEvent) => void) => LiveSubscription,
  release: () => void,
) {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    release();
    throw new KilnError(
      "INVALID_INPUT",
      "GET /v1/ws speaks WebSocket: connect with a WebSocket client (Upgrade: websocket), or use the SSE stream GET /v1/stream",
    );
  }
  let sub: LiveSubscription | undefined;
  const end = () => {
    sub?.stop();
    release();
  };
  const middleware = upgradeWebSocket(() => ({
    onOpen: (_event, ws) => {
      sub = subscribe((event) => ws.send(JSON.stringify(event)));
      void sub.done.then(() => {
        if (ws.readyState === 1) ws.close(1000, "end of feed");
      });
    },
    onClose: end,
    onError: end,
  }));
  try {
    const response = await middleware(c, async () => {});
    if (!response) throw new KilnError("INTERNAL", "The WebSocket upgrade did not happen");
    return response;
  } catch (error) {
    release();
    throw error;
  }
}

/** Live updates: SSE and WebSocket with one event schema (run, step, log, progress). */
export const streamRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/stream",
    operationId: "stream",
    summary: "Server-Sent Events of live updates: one run's (with runId) or the namespace's runs",
    tag: "live",
    access: ACCESS.readRuns,
    queryToken: true,
    query: StreamQuery,
    responses: {
      429: { description: "TOO_MANY_STREAMS: this token (or the server) has the most live streams open" },
      200: {
        description: "`event: <type>` / `data: <LiveEvent>`",
        mediaType: "text/event-stream",
        schema: LiveEventSchema,
      },
    },
    async handle({ query, auth, c, deps }) {
      const subscribe = await feed(deps, auth.namespace, query);
      return sendEventStream(c, subscribe, deps.streams.acquire(auth.principal));
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/ws",
    operationId: "websocket",
    summary: "WebSocket of live updates: one JSON LiveEvent per message (same query as /v1/stream)",
    tag: "live",
    access: ACCESS.readRuns,
    queryToken: true,
    query: StreamQuery,
    responses: { 101: { description: "Switching protocols; messages are LiveEvent JSON", schema: LiveEventSchema } },
    async handle({ query, auth, c, deps }) {
      const subscribe = await feed(deps, auth.namespace, query);
      return openWebSocket(c, subscribe, deps.streams.acquire(auth.principal));
    },
  }),
];
