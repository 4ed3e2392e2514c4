import { z } from "zod";
import { isTerminal } from "../../engine/status.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { LiveEventSchema, LogEntrySchema } from "../api-schemas.ts";
import { sendEventStream, wantsEventStream } from "../sse.ts";
import { getRunOrThrow } from "./runs.ts";

const LOG_TYPES = new Set(["log", "run"] as const);

/** The log lines of a run: paged, or followed as Server-Sent Events until the run ends. */
export const runLogRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/runs/:id/logs",
    operationId: "listRunLogs",
    summary:
      "Log lines of a run after a seq; with follow=1 (or Accept: text/event-stream) an SSE stream until the run ends",
    tag: "runs",
    access: ACCESS.readRuns,
    queryToken: true,
    params: z.object({ id: z.string().min(1).max(100) }),
    query: z.object({
      after: z.coerce.number().int().min(0).optional().describe("Lines after this seq (exclusive); default 0"),
      limit: z.coerce.number().int().min(1).max(10_000).optional(),
      follow: z
        .enum(["0", "1", "true", "false"])
        .optional()
        .describe("1: stream new lines as SSE `log` events, then the final `run` event"),
    }),
    responses: {
      200: {
        description:
          "A page of lines and the seq to continue after; when following, SSE `log` events and a final `run` event",
        schema: z.object({ items: z.array(LogEntrySchema), nextSeq: z.number().int() }),
        stream: LiveEventSchema,
      },
    },
    async handle({ params, query, auth, c, deps }) {
      await getRunOrThrow(deps.store, auth.namespace, params.id);
      const after = query.after ?? 0;
      if (query.follow === "1" || query.follow === "true" || wantsEventStream(c)) {
        // Log lines, then the run once it ends (its outcome), nothing in between.
        const release = deps.streams.acquire(auth.principal);
        return sendEventStream(
          c,
          (emit) =>
            deps.live.followRun(
              { namespace: auth.namespace, runId: params.id, afterSeq: after, types: LOG_TYPES },
              (e) => {
                if (e.type === "log" || (e.type === "run" && isTerminal(e.status))) emit(e);
              },
            ),
          release,
        );
      }
      const items = await deps.store.listLogs({
        runId: params.id,
        afterSeq: after,
        ...(query.limit === undefined ? {} : { limit: query.limit }),
      });
      return c.json({ items, nextSeq: items.at(-1)?.seq ?? after });
    },
  }),
];
