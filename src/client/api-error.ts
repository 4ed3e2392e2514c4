import { ERROR_CODES, type ErrorCode, KilnError } from "../errors.ts";

/**
 * The KilnError of an API error answer: `body` is what openapi-fetch read of it (the parsed
 * `{ error: { code, message } }`, or its text); the status decides when the body says nothing.
 */
export function apiErrorOf(response: Response, body: unknown): KilnError {
  let code: ErrorCode =
    response.status === 401 ? "UNAUTHENTICATED" : response.status === 403 ? "FORBIDDEN" : "INTERNAL";
  let message = `The server answered ${response.status} ${response.statusText}`;
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null | undefined)?.error;
  if (typeof error === "object" && error !== null) {
    if (typeof error.code === "string" && error.code in ERROR_CODES) code = error.code as ErrorCode;
    if (typeof error.message === "string") message = error.message;
  } else if (typeof body === "string" && body !== "") {
    message += `: ${body.slice(0, 200)}`;
  }
  return new KilnError(code, message, { data: { status: response.status } });
}

/** SERVER_UNAVAILABLE for a request that got no answer (refused, reset, DNS). */
export function serverUnavailable(server: string, cause: unknown): KilnError {
  const why = (cause as Error).cause ? String((cause as { cause: unknown }).cause) : (cause as Error).message;
  return new KilnError(
    "SERVER_UNAVAILABLE",
    `Cannot reach the Kiln server at ${server}: ${why}. Is \`kiln dev\` or \`kiln server\` running? Pass --server or set KILN_SERVER.`,
    { cause },
  );
}
