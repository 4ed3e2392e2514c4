import { KilnClient } from "../client/kiln-client.ts";

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

/**
 * The CLI's client of the Kiln API, over the typed client generated from the OpenAPI document
 * (`typed()`: openapi-fetch, run handles). It settles the namespace first; `get`/`post`/… are the
 * untyped shorthands of commands that build paths themselves. Error answers become KilnError.
 */
export class ApiClient {
  #target: ApiTarget;
  #namespaceLookup: Promise<void> | undefined;
  #typed: KilnClient | undefined;

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
      const session = new KilnClient({ server: this.#target.server, token: this.#target.token });
      const { data } = await session.api.GET("/v1/session");
      // A failure here is reported by the request itself (same server, same token).
      const namespace = (data as { namespace?: string } | undefined)?.namespace;
      if (namespace && namespace !== "*") {
        this.#target = { ...this.#target, namespace, namespaceFromToken: false };
      }
    })().catch(() => {});
    await this.#namespaceLookup;
    return this.#target;
  }

  /** The typed client (generated from the OpenAPI document), in the settled namespace. */
  async typed(): Promise<KilnClient> {
    const target = await this.resolveNamespace();
    this.#typed ??= new KilnClient({ server: target.server, token: target.token, namespace: target.namespace });
    return this.#typed;
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

  /** A request to a path the caller built (ids already encoded, query included). */
  async request<T>(method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown): Promise<T> {
    const client = await this.typed();
    // The path is built, not one of the typed templates: the typed client only carries it.
    const call = client.api.request(
      method.toLowerCase() as "get",
      path as "/v1/runs",
      {
        ...(body === undefined ? {} : { body: body as never }),
      } as never,
    );
    return (await client.unwrap(call)) as T;
  }
}
function withQuery(path: string, query: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
  const q = params.toString();
  return q ? `${path}?${q}` : path;
}
