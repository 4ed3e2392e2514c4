// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { KilnError } from "../../errors.ts";
import type { NodeContext, StepNodeType } from "./node-api.ts";
import { checkParamRules, isTemplated, type ParamRules, paramReader } from "./param-rules.ts";

/**
 * `http.request`: one HTTP call with the global fetch (or `services.fetch`). The output is
 * `{ status, headers, body }`, the body parsed when the response is JSON. A non-2xx response, a
 * network error or a timeout fails the node with HTTP_REQUEST_FAILED (retryable for network
 * errors, timeouts, 408, 429 and 5xx), which follows `next.error` when present.
 */

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024;
/** How much of an error response's body is kept in the error. */
const ERROR_BODY_CHARS = 2000;

const RULES: ParamRules = {
  method: {
    kind: "string",
    values: [...METHODS, ...METHODS.map((m) => m.toLowerCase())],
    description: "GET (default), HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
  },
  url: { kind: "string", required: true, description: "an http:// or https:// URL" },
  headers: { kind: "object", description: "request headers" },
  query: { kind: "object", description: "query parameters; a list value repeats the key" },
  body: { kind: "any", description: "an object or list is sent as JSON; a string as text" },
  timeout: { kind: "duration", description: "per request (default 30s)" },
  retries: { kind: "integer", description: "durable retries on network errors, 408, 429 and 5xx" },
  response: {
    kind: "string",
    values: ["auto", "json", "text"],
    description: "auto (default: parse JSON content types), json, text",
  },
  max_response_bytes: { kind: "integer", description: "default 5 MiB" },
};

function checkHttpParams(params: Readonly<Record<string, unknown>>) {
  const problems = checkParamRules("http.request", RULES, params);
  const { retries, url } = params;
  if (typeof retries === "number" && retries < 0) {
    problems.push({ path: ["retries"], message: 'Expected "retries" to be 0 or more' });
  }
  if (typeof url === "string" && !isTemplated(url) && !/^https?:\/\//i.test(url)) {
    problems.push({ path: ["url"], message: `Expected "url" to be an http:// or https:// URL, got "${url}"` });
  }
  return problems;
}

/** A URL with the `query` params appended (lists repeat the key). */
function buildUrl(base: string, query: Readonly<Record<string, unknown>> | undefined): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new KilnError("INVALID_INPUT", `Expected param "url" of http.request to be a URL, got "${base}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new KilnError("INVALID_INPUT", `http.request only calls http:// and https:// URLs, got "${url.protocol}"`);
  }
  for (const [key, value] of Object.entries(query ?? {})) {
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (item === undefined || item === null) continue;
      url.searchParams.append(key, typeof item === "object" ? JSON.stringify(item) : String(item));
    }
  }
  return url;
}

/** The request body and the content type it implies. */
function encodeBody(body: unknown): { text: string | undefined; contentType: string | undefined } {
  if (body === undefined || body === null) return { text: undefined, contentType: undefined };
  if (typeof body === "string") return { text: body, contentType: "text/plain; charset=utf-8" };
  return { text: JSON.stringify(body), contentType: "application/json" };
}

/** Reads at most `limit` bytes of a response body. */
async function readBody(response: Response, limit: number): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new KilnError(
        "HTTP_REQUEST_FAILED",
        `The response of ${response.url} is larger than ${limit} bytes; raise max_response_bytes`,
        { retryable: false, data: { status: response.status, reason: "too_large" } },
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseBody(text: string, contentType: string, mode: string): unknown {
  const json = mode === "json" || (mode === "auto" && /\bjson\b/i.test(contentType));
  if (!json || text === "") return text;
  try {
    return JSON.parse(text);
  } catch (cause) {
    if (mode === "auto") return text;
    throw new KilnError("HTTP_REQUEST_FAILED", `The response is not JSON: ${(cause as Error).message}`, {
      retryable: false,
      data: { reason: "invalid_json", body: text.slice(0, ERROR_BODY_CHARS) },
    });
  }
}

const retryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

async function httpRequest(params: Readonly<Record<string, unknown>>, ctx: NodeContext) {
  const read = paramReader("http.request", params);
  const method = (read.string("method") ?? "GET").toUpperCase();
  if (!(METHODS as readonly string[]).includes(method)) {
    throw new KilnError("INVALID_INPUT", `Unknown HTTP method "${method}"; use one of ${METHODS.join(", ")}`);
  }
  const url = buildUrl(read.requiredString("url"), read.record("query"));
  const timeoutMs = read.duration("timeout") ?? DEFAULT_TIMEOUT_MS;
  const mode = read.string("response") ?? "auto";
  const limit = read.number("max_response_bytes") ?? DEFAULT_MAX_RESPONSE_BYTES;
  const headers = new Headers();
  for (const [key, value] of Object.entries(read.record("headers") ?? {})) {
    if (value !== undefined && value !== null) headers.set(key, typeof value === "string" ? value : String(value));
  }
  const { text, contentType } = encodeBody(read.raw("body"));
  if (text !== undefined && contentType !== undefined && !headers.has("content-type")) {
    headers.set("content-type", contentType);
  }
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
  const fetchFn = ctx.services.fetch ?? globalThis.fetch;
  const target = `${method} ${url.origin}${url.pathname}`;
  let response: Response;
  let body: string;
  try {
    response = await fetchFn(url, { method, headers, ...(text === undefined ? {} : { body: text }), signal });
    body = method === "HEAD" ? "" : await readBody(response, limit);
  } catch (error) {
    if (error instanceof KilnError) throw error;
    const timedOut = signal.aborted && !ctx.signal.aborted;
    const cause = error as Error & { cause?: { code?: string; message?: string } };
    const detail = timedOut ? `no response within ${timeoutMs} ms` : (cause.cause?.message ?? cause.message);
    throw new KilnError("HTTP_REQUEST_FAILED", `${target} failed: ${detail}`, {
      retryable: true,
      data: { reason: timedOut ? "timeout" : "network", ...(cause.cause?.code ? { errno: cause.cause.code } : {}) },
    });
  }
  const responseHeaders = Object.fromEntries(response.headers.entries());
  const parsed = parseBody(body, response.headers.get("content-type") ?? "", mode);
  if (!response.ok) {
    throw new KilnError("HTTP_REQUEST_FAILED", `${target} answered ${response.status} ${response.statusText}`, {
      retryable: retryableStatus(response.status),
      data: {
        status: response.status,
        headers: responseHeaders,
        body: typeof parsed === "string" ? parsed.slice(0, ERROR_BODY_CHARS) : parsed,
      },
    });
  }
  return { status: response.status, headers: responseHeaders, body: parsed };
}

/** The `http.request` node type. */
export const httpRequestNode: StepNodeType = {
  type: "http.request",
  kind: "step",
  description: "An HTTP call; output { status, headers, body }",
  params: RULES,
  checkParams: checkHttpParams,
  defaultRetry: (raw) =>
    typeof raw.retries === "number" && raw.retries > 0
      ? { maxAttempts: Math.floor(raw.retries) + 1, initialIntervalMs: 1000, backoffCoefficient: 2 }
      : null,
  run: httpRequest,
};
