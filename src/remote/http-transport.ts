import http from "node:http";
import https from "node:https";
import { ERROR_CODES, type ErrorCode, KilnError } from "../errors.ts";

/** How a call is retried when the server cannot be reached (or answers 429/502/503/504). */
export type RetryMode =
  /** Until it succeeds or the client closes: fenced writes (safe to repeat) that must not be lost. */
  | "until-delivered"
  /** A few tries, then the error: reads and calls their caller repeats anyway (claims, heartbeats). */
  | "few";

/** Options of HttpTransport; durations in ms. */
export interface HttpTransportOptions {
  /** The server's base URL, e.g. `http://kiln.internal:7700`. */
  readonly url: string;
  readonly token: string;
  /** Sent as `Kiln-Namespace`; omitted: the token's namespace. */
  readonly namespace?: string;
  /** First retry delay (doubles up to maxDelayMs, with jitter). Default 100. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Per-attempt timeout of a request (long polls add their wait). Default 60000. */
  readonly requestTimeoutMs?: number;
  /** Told about each failed attempt that will be retried. */
  readonly onRetry?: (info: { path: string; attempt: number; delayMs: number; error: string }) => void;
  /** Send requests with this fetch instead of node:http (tests that observe requests). */
  readonly fetch?: typeof fetch;
}

/** A response as the transport needs it. */
interface RawResponse {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly text: string;
}

/** Statuses after which the same request is worth sending again. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

/** A failed attempt: the error, and whether another attempt may succeed. */
class AttemptFailed extends Error {
  constructor(
    readonly error: unknown,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super("attempt failed");
  }
}

/**
 * JSON over HTTP to the Kiln server with keep-alive (a node:http agent pools connections),
 * bearer auth, and retries with exponential backoff on connection errors, so a worker rides out a
 * server restart: requests carry `Kiln-Attempt: N` so the server can recognize a retried write.
 */
export class HttpTransport {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #initialDelay: number;
  readonly #maxDelay: number;
  readonly #timeout: number;
  readonly #onRetry: HttpTransportOptions["onRetry"];
  readonly #fetch: typeof fetch | undefined;
  readonly #agent: http.Agent;
  readonly #closed = new AbortController();

  constructor(options: HttpTransportOptions) {
    this.#base = options.url.replace(/\/+$/, "");
    this.#headers = {
      authorization: `Bearer ${options.token}`,
      "content-type": "application/json",
      ...(options.namespace === undefined ? {} : { "kiln-namespace": options.namespace }),
    };
    this.#initialDelay = options.initialDelayMs ?? 100;
    this.#maxDelay = options.maxDelayMs ?? 5000;
    this.#timeout = options.requestTimeoutMs ?? 60_000;
    this.#onRetry = options.onRetry;
    this.#fetch = options.fetch;
    // Keep-alive: a worker's calls reuse a few warm connections instead of a handshake each.
    const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 64, maxFreeSockets: 16 };
    this.#agent = this.#base.startsWith("https:") ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed.signal.aborted;
  }

  /** Aborts every request in flight and every pending retry (they fail with WORKER_STOPPED). */
  close(): void {
    this.#closed.abort(new KilnError("WORKER_STOPPED", "The engine client was closed"));
    this.#agent.destroy();
  }

  /** POSTs `body` to `path` and returns the JSON answer; 4xx answers throw their KilnError. */
  async post<T>(
    path: string,
    body: unknown,
    options: { retry: RetryMode; extraTimeoutMs?: number; signal?: AbortSignal; namespace?: string },
  ): Promise<T> {
    const payload = JSON.stringify(body);
    const maxAttempts = options.retry === "few" ? 3 : Number.POSITIVE_INFINITY;
    for (let attempt = 1; ; attempt++) {
      this.#throwIfClosed(options.signal);
      try {
        return await this.#attempt<T>(path, payload, attempt, options);
      } catch (failure) {
        if (!(failure instanceof AttemptFailed)) throw failure;
        if (!failure.retryable || attempt >= maxAttempts || this.closed || options.signal?.aborted) throw failure.error;
        const backoff = Math.min(this.#maxDelay, this.#initialDelay * 2 ** (attempt - 1));
        const delayMs = Math.max(failure.retryAfterMs ?? 0, Math.round(backoff * (0.5 + Math.random() / 2)));
        this.#onRetry?.({ path, attempt, delayMs, error: (failure.error as Error).message });
        await this.#sleep(delayMs, options.signal);
      }
    }
  }

  async #attempt<T>(
    path: string,
    payload: string,
    attempt: number,
    options: { extraTimeoutMs?: number; signal?: AbortSignal; namespace?: string },
  ): Promise<T> {
    const headers = {
      ...this.#headers,
      ...(options.namespace === undefined ? {} : { "kiln-namespace": options.namespace }),
      "kiln-attempt": String(attempt),
    };
    let response: RawResponse;
    try {
      response = await this.#send(
        `${this.#base}${path}`,
        headers,
        payload,
        this.#timeout + (options.extraTimeoutMs ?? 0),
        options.signal,
      );
    } catch (cause) {
      this.#throwIfClosed(options.signal);
      const why = (cause as { cause?: { code?: string; message?: string } }).cause;
      const code = (cause as { code?: string }).code ?? why?.code;
      const message = `Could not reach the Kiln server at ${this.#base}: ${code ?? why?.message ?? (cause as Error).message}`;
      throw new AttemptFailed(new KilnError("STORE_UNAVAILABLE", message, { cause }), true);
    }
    const { text } = response;
    if (response.status >= 200 && response.status < 300) return (text === "" ? undefined : JSON.parse(text)) as T;
    const error = errorFromBody(response.status, text, path);
    const retryAfter = Number(response.retryAfter ?? Number.NaN);
    const retryable = RETRY_STATUSES.has(response.status) || (response.status >= 500 && attempt < 3);
    throw new AttemptFailed(error, retryable, Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined);
  }

  /**
   * One POST with node:http on the keep-alive agent (or the injected fetch), cut after `timeoutMs`,
   * on close(), or when `signal` aborts.
   */
  async #send(
    url: string,
    headers: Record<string, string>,
    payload: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<RawResponse> {
    if (this.#fetch) {
      const signals = [this.#closed.signal, AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])];
      const res = await this.#fetch(url, { method: "POST", headers, body: payload, signal: AbortSignal.any(signals) });
      return { status: res.status, retryAfter: res.headers.get("retry-after"), text: await res.text() };
    }
    const body = Buffer.from(payload);
    const lib = url.startsWith("https:") ? https : http;
    return new Promise<RawResponse>((resolve, reject) => {
      const req = lib.request(
        url,
        { method: "POST", agent: this.#agent, headers: { ...headers, "content-length": String(body.length) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", fail);
          res.on("end", () => {
            cleanup();
            const retryAfter = res.headers["retry-after"];
            resolve({
              status: res.statusCode ?? 0,
              retryAfter: typeof retryAfter === "string" ? retryAfter : null,
              text: Buffer.concat(chunks).toString("utf8"),
            });
          });
        },
      );
      // Plain listeners and a socket timeout: cheaper per request than composed AbortSignals.
      const abort = () => req.destroy(new Error("request aborted"));
      const cleanup = () => {
        this.#closed.signal.removeEventListener("abort", abort);
        signal?.removeEventListener("abort", abort);
      };
      function fail(error: Error) {
        cleanup();
        reject(error);
      }
      this.#closed.signal.addEventListener("abort", abort, { once: true });
      signal?.addEventListener("abort", abort, { once: true });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", fail);
      req.end(body);
    });
  }

  #throwIfClosed(signal?: AbortSignal): void {
    if (this.#closed.signal.aborted) throw this.#closed.signal.reason;
    if (signal?.aborted) throw new KilnError("WORKER_STOPPED", "The request was cancelled");
  }

  #sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#closed.signal.removeEventListener("abort", done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#closed.signal.addEventListener("abort", done, { once: true });
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

/** The KilnError of an error body (`{ error: { code, message } }`), or a generic one. */
function errorFromBody(status: number, text: string, path: string): KilnError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; data?: Record<string, unknown> } };
    if (body.error?.code && body.error.message) {
      const code = (body.error.code in ERROR_CODES ? body.error.code : "INTERNAL") as ErrorCode;
      return new KilnError(code, body.error.message, body.error.data === undefined ? {} : { data: body.error.data });
    }
  } catch {
    // Not JSON (a proxy's error page): fall through.
  }
  const code: ErrorCode =
    status === 401
      ? "UNAUTHENTICATED"
      : status === 403
        ? "FORBIDDEN"
        : status >= 500
          ? "STORE_UNAVAILABLE"
          : "INTERNAL";
  return new KilnError(code, `POST ${path} answered HTTP ${status}: ${text.slice(0, 200)}`);
}
