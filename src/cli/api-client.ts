import { KilnError, type ErrorCode, ERROR_CODES } from "../errors.ts";

/** Where and as whom the CLI talks to a Kiln server. */
export interface ApiTarget {
  readonly server: string;
  readonly token: string | null;
  readonly namespace: string;
  /**
   * The namespace was not given (flag, KILN_NAMESPACE, config): the token's own namespace is
   * asked of the server (GET /v1/session) before the first request; `default` when it has none.
   */
  readonly namespaceFromToken?: boolean;
}

/** A thin HTTP client of the Kiln API: JSON in, JSON out, `{ error: { code, message } }` → KilnError. */
export class ApiClient {
  #target: ApiTarget;
  #namespaceLookup: Promise<void> | undefined;

  constructor(target: ApiTarget) {
    this.#target = target;
  }

  /** Where and as whom requests go (the namespace is final once `resolveNamespace` has run). */
  get target(): ApiTarget {
    return this.#target;
  }

  /**
   * Settles the namespace: a namespace token acts in its own namespace, so a CLI given only
   * that token must not send `default` (FORBIDDEN). Runs once; requests call it themselves.
   */
  async resolveNamespace(): Promise<ApiTarget> {
    if (!this.#target.namespaceFromToken || !this.#target.token) return this.#target;
    this.#namespaceLookup ??= (async () => {
      const response = await this.#send("GET", "/v1/session", undefined, {}, false);
      // A failure here is reported by the request itself (same server, same token).
      if (!response.ok) return;
      const session = (await response.json()) as { namespace?: string };
      if (session.namespace && session.namespace !== "*") {
        this.#target = { ...this.#target, namespace: session.namespace, namespaceFromToken: false };
      }
    })().catch(() => {});
    await this.#namespaceLookup;
    return this.#target;
  }

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return await this.request<T>("GET", withQuery(path, query));
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    return await this.request<T>("POST", path, body);
  }

  async put<T>(path: string, body?: unknown): Promise<T> {
    return await this.request<T>("PUT", path, body);
  }

  async delete<T>(path: string): Promise<T> {
    return await this.request<T>("DELETE", path);
  }

  /** Opens a streaming GET (SSE); the caller reads `body`. */
  async stream(path: string, query: Record<string, string | number | undefined> = {}): Promise<Response> {
    const response = await this.#fetch("GET", withQuery(path, query), undefined, { accept: "text/event-stream" });
    if (!response.ok) await throwApiError(response);
    return response;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#fetch(method, path, body);
    if (!response.ok) await throwApiError(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async #fetch(method: string, path: string, body: unknown, extra: Record<string, string> = {}): Promise<Response> {
    await this.resolveNamespace();
    return this.#send(method, path, body, extra, true);
  }

  async #send(
    method: string,
    path: string,
    body: unknown,
    extra: Record<string, string>,
    withNamespace: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = {
      ...(withNamespace ? { "kiln-namespace": this.target.namespace } : {}),
      ...extra,
    };
    if (this.target.token) headers.authorization = `Bearer ${this.target.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const url = new URL(path, this.target.server.endsWith("/") ? this.target.server : `${this.target.server}/`);
    try {
      return await fetch(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (cause) {
      throw new KilnError(
        "SERVER_UNAVAILABLE",
        `Cannot reach the Kiln server at ${this.target.server}: ${(cause as Error).cause ? String((cause as { cause: unknown }).cause) : (cause as Error).message}. Is \`kiln dev\` or \`kiln server\` running? Pass --server or set KILN_SERVER.`,
        { cause },
      );
    }
  }
}

function withQuery(path: string, query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
  const q = params.toString();
  return q ? `${path}?${q}` : path;
}

async function throwApiError(response: Response): Promise<never> {
  const text = await response.text();
  let code: ErrorCode =
    response.status === 401 ? "UNAUTHENTICATED" : response.status === 403 ? "FORBIDDEN" : "INTERNAL";
  let message = `The server answered ${response.status} ${response.statusText}`;
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code && body.error.code in ERROR_CODES) code = body.error.code as ErrorCode;
    if (body.error?.message) message = body.error.message;
  } catch {
    if (text) message += `: ${text.slice(0, 200)}`;
  }
  throw new KilnError(code, message, { data: { status: response.status } });
}
