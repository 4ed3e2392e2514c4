import { KilnError, type ErrorCode, ERROR_CODES } from "../errors.ts";

/** Where and as whom the CLI talks to a Kiln server. */
export interface ApiTarget {
  readonly server: string;
  readonly token: string | null;
  readonly namespace: string;
}

/** A thin HTTP client of the Kiln API: JSON in, JSON out, `{ error: { code, message } }` → KilnError. */
export class ApiClient {
  readonly target: ApiTarget;

  constructor(target: ApiTarget) {
    this.target = target;
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
    const headers: Record<string, string> = { "kiln-namespace": this.target.namespace, ...extra };
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
