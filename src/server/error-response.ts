import type { z } from "zod";
import { ERROR_CODES, type ErrorCode, isKilnError, KilnError } from "../errors.ts";
import type { AppContext } from "./api-route.ts";

/** The one error body of the API. */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly data?: Readonly<Record<string, unknown>>;
  };
}

/** A zod failure as INVALID_INPUT naming where (`body.priority`, `query.limit`) and what. */
export function invalidInput(where: "body" | "query" | "params", error: z.ZodError): KilnError {
  const issues = error.issues.slice(0, 5).map((issue) => {
    const path = [where, ...issue.path.map(String)].join(".");
    return `${path}: ${issue.message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : "";
  return new KilnError("INVALID_INPUT", `Invalid request ${issues.join("; ")}${more}`, {
    data: {
      issues: error.issues
        .slice(0, 20)
        .map((i) => ({ path: [where, ...i.path.map(String)].join("."), message: i.message })),
    },
  });
}

/** The status and body for any error thrown by a handler; unknown errors become INTERNAL. */
export function errorResponse(
  error: unknown,
  requestId: string,
): { status: number; body: ErrorBody; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  if (isKilnError(error)) {
    const status = ERROR_CODES[error.code as ErrorCode] ?? 500;
    if (error.code === "UNAUTHENTICATED") headers["WWW-Authenticate"] = 'Bearer realm="kiln"';
    const retryAfter = error.data?.retryAfterSeconds;
    if (typeof retryAfter === "number") headers["Retry-After"] = String(retryAfter);
    else if (error.code === "STORE_UNAVAILABLE") headers["Retry-After"] = "1";
    const internal = status >= 500 && error.code !== "STORE_UNAVAILABLE";
    const data = internal ? undefined : error.data;
    return {
      status,
      headers,
      body: {
        error: {
          code: error.code,
          message: error.message,
          ...(data === undefined ? {} : { data }),
          // The database is momentarily out of reach: the same request may well succeed shortly.
          ...(error.code === "STORE_UNAVAILABLE" ? { retryable: true } : {}),
        },
      },
    };
  }
  return {
    status: 500,
    headers,
    body: {
      error: {
        code: "INTERNAL",
        message: `Internal server error (request ${requestId}); the server log has the details`,
      },
    },
  };
}

/** Sends an error as JSON. */
export function sendError(c: AppContext, error: unknown): Response {
  const { status, body, headers } = errorResponse(error, c.get("requestId") ?? "-");
  for (const [k, v] of Object.entries(headers)) c.header(k, v);
  return c.json(body, status as 400);
}
