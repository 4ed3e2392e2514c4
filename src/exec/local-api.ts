/**
 * The local API: one HTTP server per worker process on a Unix socket, `$KILN_API_SOCKET` (mode
 * 0600, in the process's private 0700 directory), shared by every attempt the process runs. Each
 * attempt gets its own session, named by an unguessable token in `$KILN_API_TOKEN`; a request acts
 * for the attempt whose token it carries as `Authorization: Bearer <token>`, and a missing, unknown
 * or ended token is refused with 401 UNAUTHENTICATED, so one attempt's script cannot act for
 * another. The `kiln` CLI inside scripts is a thin client of it; so is
 * `curl --unix-socket "$KILN_API_SOCKET" -H "Authorization: Bearer $KILN_API_TOKEN" http://kiln/…`.
 * Bodies are JSON (`Content-Type` is not checked); every answer is JSON. Errors are
 * `{ "error": { "code", "message" } }` with a 4xx/5xx status (400 INVALID_INPUT / INVALID_JSON,
 * 401 UNAUTHENTICATED, 404 ROUTE_NOT_FOUND, 413 PAYLOAD_TOO_LARGE for bodies over 1 MiB). Secrets
 * and masked values are replaced by `***` in everything recorded.
 *
 *   POST /log                 {"message": string, "level"?: "debug"|"info"|"notice"|"warning"|"error"
 *                                (aliases: "warn", "trace", "fatal", …), "details"?: any}
 *                             → 200 {"ok": true}   `details` is kept: appended to the line as JSON.
 *   POST /progress            {"percent"?: number 0-100 | null, "message"?: string}   → 200 {"ok": true}
 *   GET  /state/:key          → 200 {"key": string, "value": string | null}   (null: not set)
 *   PUT  /state/:key          {"value": any}  or a bare JSON value (`42`, `"text"`, `{"a":1}`) → 200 {"ok": true}
 *                             A string is stored as is, anything else as its JSON text; null deletes;
 *                             an empty body is refused. Saved at once; survives retries; next
 *                             attempts see it as STATE_<KEY>.
 *   POST /output              {"key": string, "value": any}  or  {"outputs": {key: any, …}}
 *                             → 200 {"ok": true}   Merged into the run output like ::set-output.
 *   POST /heartbeat           {} → 200 {"ok": true}   (any request also counts as a heartbeat)
 *   GET  /steps/:name         → 200 {"recorded": false} | {"recorded": true, "stdout": string, "exitCode": number}
 *   POST /steps/:name         {}                                   → same as GET (look up)
 *                             {"stdout": string, "exitCode": number} → get-or-record:
 *                               already recorded → {"recorded": true, …the recorded result}  (replay it)
 *                               exitCode 0 → records it once → {"recorded": true, "stdout", "exitCode": 0}
 *                               exitCode ≠ 0 → not recorded (a failed step re-runs on the next attempt)
 *                                              → {"recorded": false}
 *                             The CLI: `kiln step NAME -- cmd…` looks up NAME; when recorded, prints
 *                             the stdout and exits with the exit code without running cmd; else runs
 *                             cmd, posts its stdout and exit code, and exits like it.
 *   POST /sleep/:name         {"duration": "1h" | "30s" | milliseconds}
 *                             → 200 {"status": "done"}    (this sleep already elapsed: continue)
 *                             → 200 {"status": "parked"}  (the run sleeps durably)
 *   POST /wait-event/:name    {"event": string, "key"?: string | null, "timeout"?: "1h" | milliseconds | null}
 *                             → 200 {"status": "received", "payload": any}
 *                             → 200 {"status": "timeout"}
 *                             → 200 {"status": "parked"}  (the run waits durably)
 *
 * `parked` means: stop. The client must not return control to the script (it should wait until
 * it is killed); the executor kills the script's process group at once, and the run is re-run from
 * the top when it wakes, with recorded steps replayed. Step, sleep and wait names repeated within
 * one attempt get a deterministic suffix (`fetch`, `fetch#2`, …), as in code workflows.
 */
import { chmodSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { parseDuration } from "../engine/duration.ts";
import { isKilnError, KilnError } from "../errors.ts";
import type { LogLevel } from "../engine/log-level.ts";
import { ACCEPTED_LOG_LEVELS, toLogLevel } from "./log-levels.ts";
import { randomToken } from "./random-ids.ts";

/** A `kiln step` result as recorded. */
export interface StepRecord {
  readonly stdout: string;
  readonly exitCode: number;
}

/** The outcome of a durable event wait. */
export type WaitOutcome =
  | { readonly status: "received"; readonly payload: unknown }
  | { readonly status: "timeout" }
  | { readonly status: "parked" };

/** What the local API delegates to (implemented by the script executor over the task context). */
export interface LocalApiHandler {
  log(level: LogLevel, message: string): void;
  progress(percent: number | null, message: string | null): void;
  getState(key: string): string | null;
  setState(key: string, value: string | null): Promise<void>;
  setOutput(key: string, value: unknown): void;
  heartbeat(): void;
  getStep(name: string): StepRecord | null;
  /** Records a successful step once; returns what is recorded (the earlier record if any). */
  recordStep(name: string, result: StepRecord): Promise<StepRecord | null>;
  sleep(name: string, durationMs: number): Promise<"done" | "parked">;
  waitForEvent(
    name: string,
    options: Readonly<{ event: string; key: string | null; timeoutMs: number | null }>,
  ): Promise<WaitOutcome>;
}

const MAX_BODY_BYTES = 1024 * 1024;

/** The body of a request sent without one (so that PUT /state can tell it from a JSON value). */
const NO_BODY: unique symbol = Symbol("no body");

function readBody(request: IncomingMessage): Promise<unknown | typeof NO_BODY> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // An oversized body is drained, not kept, so that the client still gets its 413 answer.
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", () => {
      if (size > MAX_BODY_BYTES) {
        reject(new KilnError("PAYLOAD_TOO_LARGE", `The request body is over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return resolve(NO_BODY);
      try {
        resolve(JSON.parse(text));
      } catch (cause) {
        reject(new KilnError("INVALID_JSON", `The request body is not valid JSON: ${(cause as Error).message}`));
      }
    });
    request.on("error", reject);
  });
}

function field<T>(body: unknown, name: string, check: (v: unknown) => v is T, expected: string): T {
  const value = body !== null && typeof body === "object" ? (body as Record<string, unknown>)[name] : undefined;
  if (!check(value)) {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected "${name}" to be ${expected}, got ${JSON.stringify(value) ?? "nothing"}`,
    );
  }
  return value;
}
const isString = (v: unknown): v is string => typeof v === "string";
const isOptionalString = (v: unknown): v is string | null | undefined => v == null || typeof v === "string";
const isExitCode = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255;
const isDuration = (v: unknown): v is string | number => typeof v === "string" || typeof v === "number";
const isOptionalDuration = (v: unknown): v is string | number | null | undefined => v == null || isDuration(v);

type Route = (handler: LocalApiHandler, body: unknown, param: string) => Promise<unknown> | unknown;

/**
 * The state value a PUT body means. `{"value": v}` (the kiln CLI's form) and a bare JSON value
 * (Forge's `curl -X PUT … -d '42'`) both store v: a string as is, anything else as its JSON text.
 */
function stateValue(raw: unknown): string | null {
  if (raw === NO_BODY) {
    throw new KilnError(
      "INVALID_INPUT",
      'PUT /state/:key needs a JSON body: a value such as 42 or "text" (null deletes)',
    );
  }
  const wrapped =
    raw !== null &&
    typeof raw === "object" &&
    !Array.isArray(raw) &&
    Object.keys(raw).length === 1 &&
    Object.hasOwn(raw, "value");
  const value = wrapped ? (raw as { value: unknown }).value : raw;
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

const ok = { ok: true };
const stepAnswer = (record: StepRecord | null) => (record ? { recorded: true, ...record } : { recorded: false });

// One table for every session: the handler is an argument, so no closures are built per attempt.
const ROUTES: Readonly<Record<string, Route>> = {
  "POST /log": (handler, body) => {
    const message = field(body, "message", isString, "a string");
    const name = field(body, "level", isOptionalString, "a log level") ?? "info";
    const level = toLogLevel(name);
    if (level === null)
      throw new KilnError(
        "INVALID_INPUT",
        `Expected "level" to be one of ${ACCEPTED_LOG_LEVELS.join(", ")}, got "${name}"`,
      );
    const details = (body as { details?: unknown }).details;
    handler.log(level, details == null ? message : `${message} ${JSON.stringify(details)}`);
    return ok;
  },
  "POST /progress": (handler, body) => {
    const percent = field(
      body,
      "percent",
      (v): v is number | null | undefined => v == null || (typeof v === "number" && Number.isFinite(v)),
      "a number from 0 to 100",
    );
    const message = field(body, "message", isOptionalString, "a string");
    handler.progress(percent == null ? null : Math.min(100, Math.max(0, percent)), message ?? null);
    return ok;
  },
  "GET /state": (handler, _, key) => ({ key, value: handler.getState(key) }),
  "PUT /state": async (handler, body, key) => {
    await handler.setState(key, stateValue(body));
    return ok;
  },
  "POST /output": (handler, body) => {
    const outputs = (body as { outputs?: unknown }).outputs;
    if (outputs !== undefined) {
      if (outputs === null || typeof outputs !== "object" || Array.isArray(outputs)) {
        throw new KilnError("INVALID_INPUT", 'Expected "outputs" to be an object of key: value');
      }
      for (const [key, value] of Object.entries(outputs)) handler.setOutput(key, value);
    } else {
      handler.setOutput(field(body, "key", isString, "a string"), (body as { value?: unknown }).value ?? null);
    }
    return ok;
  },
  "POST /heartbeat": (handler) => {
    handler.heartbeat();
    return ok;
  },
  "GET /steps": (handler, _, name) => stepAnswer(handler.getStep(name)),
  "POST /steps": async (handler, body, name) => {
    const record = body as { stdout?: unknown; exitCode?: unknown };
    if (record.stdout === undefined && record.exitCode === undefined) return stepAnswer(handler.getStep(name));
    const stdout = field(body, "stdout", isString, "a string");
    const exitCode = field(body, "exitCode", isExitCode, "an exit code from 0 to 255");
    return stepAnswer(await handler.recordStep(name, { stdout, exitCode }));
  },
  "POST /sleep": async (handler, body, name) => {
    const duration = parseDuration(
      field(body, "duration", isDuration, 'a duration like "30s" or milliseconds'),
      "duration",
    );
    return { status: await handler.sleep(name, duration) };
  },
  "POST /wait-event": async (handler, body, name) => {
    const event = field(body, "event", isString, "an event name");
    const key = field(body, "key", isOptionalString, "a string") ?? null;
    const timeout = field(body, "timeout", isOptionalDuration, 'a duration like "1h" or milliseconds');
    const timeoutMs = timeout == null ? null : parseDuration(timeout, "timeout");
    return handler.waitForEvent(name, { event, key, timeoutMs });
  },
};

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

/** Options of opening a session: what one attempt's requests do besides calling its handler. */
export interface LocalApiSessionOptions {
  /** Called on every request (counts as script activity for the heartbeat timeout). */
  readonly onRequest?: () => void;
  /** Masks text in error messages sent back (secrets never echo). */
  readonly mask?: (text: string) => string;
}

/** One attempt's access to the local API: requests carrying its token reach its handler. */
export interface LocalApiSession {
  /** `$KILN_API_TOKEN`: sent as `Authorization: Bearer <token>`. */
  readonly token: string;
  /** Ends the session: its token is refused from now on. */
  close(): void;
}

/** A running local API server, shared by the attempts of one process. */
export interface LocalApiServer {
  readonly socketPath: string;
  /** Opens a session for one attempt, with a fresh unguessable token. */
  openSession(handler: LocalApiHandler, options?: LocalApiSessionOptions): LocalApiSession;
  /** Stops accepting requests and drops open connections. */
  close(): Promise<void>;
}

interface Session {
  readonly handler: LocalApiHandler;
  readonly options: LocalApiSessionOptions;
}

const BEARER = "Bearer ";
const unmasked = (text: string) => text;

function sendError(response: ServerResponse, error: unknown, mask: (text: string) => string): void {
  const known = isKilnError(error) ? error : new KilnError("INTERNAL", (error as Error)?.message ?? String(error));
  send(response, known.httpStatus, { error: { code: known.code, message: mask(known.message) } });
}

function serve(sessions: ReadonlyMap<string, Session>, request: IncomingMessage, response: ServerResponse): void {
  const authorization = request.headers.authorization;
  const token = authorization?.startsWith(BEARER) ? authorization.slice(BEARER.length).trim() : "";
  const session = token === "" ? undefined : sessions.get(token);
  if (session === undefined) {
    const message =
      token === ""
        ? "Missing Authorization: Bearer $KILN_API_TOKEN (the local API only serves the attempt of that token)"
        : "Unknown or ended attempt token: the local API only serves running attempts";
    sendError(response, new KilnError("UNAUTHENTICATED", message), unmasked);
    return;
  }
  const { handler, options } = session;
  options.onRequest?.();
  const mask = options.mask ?? unmasked;
  const url = new URL(request.url ?? "/", "http://kiln");
  const [, head = "", ...rest] = url.pathname.split("/");
  let param: string;
  try {
    param = decodeURIComponent(rest.join("/"));
  } catch {
    // A throw here would be uncaught, and the server is shared by every attempt of the worker.
    sendError(response, new KilnError("INVALID_INPUT", `Malformed percent-encoding in ${url.pathname}`), mask);
    return;
  }
  const route = ROUTES[`${request.method} /${head}`];
  const needsParam = head === "state" || head === "steps" || head === "sleep" || head === "wait-event";
  if (!route || (needsParam ? param === "" : rest.length > 0)) {
    send(response, 404, {
      error: { code: "ROUTE_NOT_FOUND", message: `No route ${request.method} ${url.pathname}` },
    });
    return;
  }
  readBody(request)
    .then((body) => route(handler, body === NO_BODY && head !== "state" ? {} : body, param))
    .then(
      (answer) => send(response, 200, answer),
      (error: unknown) => sendError(response, error, mask),
    );
}

/**
 * Starts the local API on `socketPath` (which must not exist), mode 0600. The server does not keep
 * the process alive by itself (its handle and connections are unref'd): a worker that stops exits.
 */
export async function startLocalApi(socketPath: string): Promise<LocalApiServer> {
  const sessions = new Map<string, Session>();
  const server: Server = createServer((request, response) => serve(sessions, request, response));
  server.on("connection", (socket) => socket.unref());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  server.unref();
  return {
    socketPath,
    openSession(handler, options = {}) {
      const token = randomToken();
      sessions.set(token, { handler, options });
      return { token, close: () => void sessions.delete(token) };
    },
    close: () =>
      new Promise<void>((resolve) => {
        sessions.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
