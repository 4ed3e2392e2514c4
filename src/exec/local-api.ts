/**
 * The local API: an HTTP server on a per-attempt Unix socket, `$KILN_API_SOCKET` (mode 0600, in
 * the attempt's private 0700 directory). The `kiln` CLI inside scripts is a thin client of it; so
 * is `curl --unix-socket "$KILN_API_SOCKET" http://kiln/…`. Bodies are JSON (`Content-Type` is not
 * checked); every answer is JSON. Errors are `{ "error": { "code", "message" } }` with a 4xx/5xx
 * status (400 INVALID_INPUT / INVALID_JSON, 404 ROUTE_NOT_FOUND, 413 PAYLOAD_TOO_LARGE for bodies
 * over 1 MiB). Secrets and masked values are replaced by `***` in everything recorded.
 *
 *   POST /log                 {"message": string, "level"?: "debug"|"info"|"notice"|"warning"|"error"}
 *                             → 200 {"ok": true}
 *   POST /progress            {"percent"?: number 0-100 | null, "message"?: string}   → 200 {"ok": true}
 *   GET  /state/:key          → 200 {"key": string, "value": string | null}   (null: not set)
 *   PUT  /state/:key          {"value": string | null}  (null deletes)      → 200 {"ok": true}
 *                             Saved at once; survives retries; next attempts see it as STATE_<KEY>.
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
import type { LogLevel } from "../store/store.ts";

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
const LOG_LEVELS: ReadonlySet<string> = new Set(["debug", "info", "notice", "warning", "error"]);

function readBody(request: IncomingMessage): Promise<unknown> {
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
      if (text === "") return resolve({});
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

type Route = (body: unknown, param: string) => Promise<unknown> | unknown;

function routes(handler: LocalApiHandler): Record<string, Route> {
  const ok = { ok: true };
  const stepAnswer = (record: StepRecord | null) => (record ? { recorded: true, ...record } : { recorded: false });
  return {
    "POST /log": (body) => {
      const message = field(body, "message", isString, "a string");
      const level = field(body, "level", isOptionalString, "a log level") ?? "info";
      if (!LOG_LEVELS.has(level))
        throw new KilnError(
          "INVALID_INPUT",
          `Expected "level" to be one of ${[...LOG_LEVELS].join(", ")}, got "${level}"`,
        );
      handler.log(level as LogLevel, message);
      return ok;
    },
    "POST /progress": (body) => {
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
    "GET /state": (_, key) => ({ key, value: handler.getState(key) }),
    "PUT /state": async (body, key) => {
      await handler.setState(key, field(body, "value", isOptionalString, "a string or null") ?? null);
      return ok;
    },
    "POST /output": (body) => {
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
    "POST /heartbeat": () => {
      handler.heartbeat();
      return ok;
    },
    "GET /steps": (_, name) => stepAnswer(handler.getStep(name)),
    "POST /steps": async (body, name) => {
      const record = body as { stdout?: unknown; exitCode?: unknown };
      if (record.stdout === undefined && record.exitCode === undefined) return stepAnswer(handler.getStep(name));
      const stdout = field(body, "stdout", isString, "a string");
      const exitCode = field(body, "exitCode", isExitCode, "an exit code from 0 to 255");
      return stepAnswer(await handler.recordStep(name, { stdout, exitCode }));
    },
    "POST /sleep": async (body, name) => {
      const duration = parseDuration(
        field(body, "duration", isDuration, 'a duration like "30s" or milliseconds'),
        "duration",
      );
      return { status: await handler.sleep(name, duration) };
    },
    "POST /wait-event": async (body, name) => {
      const event = field(body, "event", isString, "an event name");
      const key = field(body, "key", isOptionalString, "a string") ?? null;
      const timeout = field(body, "timeout", isOptionalDuration, 'a duration like "1h" or milliseconds');
      const timeoutMs = timeout == null ? null : parseDuration(timeout, "timeout");
      return handler.waitForEvent(name, { event, key, timeoutMs });
    },
  };
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  response.end(text);
}

/** A running local API server. */
export interface LocalApiServer {
  readonly socketPath: string;
  /** Stops accepting requests and drops open connections. */
  close(): Promise<void>;
}

/** Options of starting the local API. */
export interface LocalApiOptions {
  /** Called on every request (counts as script activity for the heartbeat timeout). */
  readonly onRequest?: () => void;
  /** Masks text in error messages sent back (secrets never echo). */
  readonly mask?: (text: string) => string;
}

/** Starts the local API on `socketPath` (which must not exist), mode 0600. */
export async function startLocalApi(
  socketPath: string,
  handler: LocalApiHandler,
  options: LocalApiOptions = {},
): Promise<LocalApiServer> {
  const table = routes(handler);
  const mask = options.mask ?? ((text: string) => text);
  const server: Server = createServer((request, response) => {
    options.onRequest?.();
    const url = new URL(request.url ?? "/", "http://kiln");
    const [, head = "", ...rest] = url.pathname.split("/");
    const param = decodeURIComponent(rest.join("/"));
    const route = table[`${request.method} /${head}`];
    const needsParam = head === "state" || head === "steps" || head === "sleep" || head === "wait-event";
    if (!route || (needsParam ? param === "" : rest.length > 0)) {
      send(response, 404, {
        error: { code: "ROUTE_NOT_FOUND", message: `No route ${request.method} ${url.pathname}` },
      });
      return;
    }
    readBody(request)
      .then((body) => route(body, param))
      .then(
        (answer) => send(response, 200, answer),
        (error: unknown) => {
          const known = isKilnError(error)
            ? error
            : new KilnError("INTERNAL", (error as Error)?.message ?? String(error));
          send(response, known.httpStatus, { error: { code: known.code, message: mask(known.message) } });
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
