import { SpanKind } from "@opentelemetry/api";
import { contextFromTraceparent, endSpan, startSpan, tracingOn, withSpan } from "../tracing/spans.ts";
import type { AppContext } from "./api-route.ts";

/**
 * Runs a request inside a SERVER span (when tracing is on), continuing the caller's W3C
 * `traceparent` header when it sends one. Runs started by the request store the span as their
 * parent (routes/runs.ts), which puts the whole run in the request's trace.
 */
export async function traceRequest(c: AppContext, next: () => Promise<void>): Promise<void> {
  if (!tracingOn()) return next();
  const parent = contextFromTraceparent(c.req.header("traceparent"));
  const span = startSpan(`${c.req.method}`, {
    kind: SpanKind.SERVER,
    attributes: { "http.request.method": c.req.method, "url.path": new URL(c.req.url).pathname },
    ...(parent === undefined ? {} : { parent }),
  });
  try {
    await withSpan(span, next);
  } finally {
    const route = c.get("route");
    if (route !== undefined) {
      span?.updateName(`${c.req.method} ${route}`);
      span?.setAttribute("http.route", route);
    }
    span?.setAttribute("http.response.status_code", c.res.status);
    endSpan(span, c.res.status >= 500 ? { code: `HTTP_${c.res.status}`, message: "server error" } : null);
  }
}
