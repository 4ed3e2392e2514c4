import createClient, { type Client } from "openapi-fetch";
import { isTerminal } from "../engine/status.ts";
import type { components, paths } from "./api-types.ts";
import { apiErrorOf, serverUnavailable } from "./api-error.ts";
import { RunChanges } from "./run-changes.ts";

/** The API's named schemas (generated from the OpenAPI document). */
export type ApiSchemas = components["schemas"];
/** A run as the API returns it. */
export type ApiRun = ApiSchemas["Run"];
/** A run with its steps (GET /v1/runs/{id}). */
export type ApiRunWithSteps = ApiSchemas["RunWithSteps"];
/** The body of POST /v1/runs. */
export type StartRunBody = ApiSchemas["StartRunBody"];

/** Where and as whom a client talks to a Kiln server. */
export interface KilnClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:7700`. */
  readonly server: string;
  /** An API token, sent as `Authorization: Bearer …` (none: a loopback `kiln dev` needs none). */
  readonly token?: string | null;
  /** The namespace to act in (the `Kiln-Namespace` header); default: the token's. */
  readonly namespace?: string;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
}

/** The outcome of an openapi-fetch call. */
type FetchResult<T> = { data?: T; error?: unknown; response: Response };

/**
 * A typed HTTP client of the Kiln API: `api` is an openapi-fetch client over the generated
 * `paths` (every route, typed bodies and answers), and `startRun` / `run(id)` give run handles
 * whose `result()` waits on the server's stream. Error answers throw KilnError with the API's
 * code; a server that cannot be reached throws SERVER_UNAVAILABLE.
 */
export class KilnClient {
  /** The generated, fully typed client of every route (openapi-fetch). */
  readonly api: Client<paths>;
  readonly #options: KilnClientOptions;

  constructor(options: Readonly<KilnClientOptions>) {
    this.#options = options;
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.namespace) headers["kiln-namespace"] = options.namespace;
    const server = options.server;
    this.api = createClient<paths>({
      baseUrl: server.replace(/\/+$/, ""),
      headers,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    this.api.use({
      onError: ({ error }) => {
        throw serverUnavailable(server, error);
      },
    });
  }

  /** Starts a run (POST /v1/runs) and returns its handle. */
  async startRun(body: Readonly<StartRunBody>): Promise<RunHandle> {
    const run = await this.unwrap(this.api.POST("/v1/runs", { body: body as StartRunBody }));
    return new RunHandle(this, run);
  }

  /** The handle of an existing run. */
  run(id: string): RunHandle {
    return new RunHandle(this, { id });
  }

  /** Opens the SSE stream of one run's changes (GET /v1/stream). */
  async openRunStream(runId: string, types: string): Promise<Response> {
    const { response, error } = await this.api.GET("/v1/stream", {
      params: { query: { runId, types } },
      headers: { accept: "text/event-stream" },
      parseAs: "stream",
    });
    if (!response.ok) throw apiErrorOf(response, error);
    return response;
  }

  /** The data of a call, or its error answer as a KilnError. */
  async unwrap<T>(call: Promise<FetchResult<T>>): Promise<T> {
    const { data, error, response } = await call;
    if (!response.ok) throw apiErrorOf(response, error);
    return data as T;
  }

  /** Where and as whom this client talks. */
  get options(): Readonly<KilnClientOptions> {
    return this.#options;
  }
}

/** One run on the server: read it, wait for its outcome, cancel it. */
export class RunHandle {
  readonly id: string;
  /** The run as last read (after start: as created). */
  readonly started: Readonly<Partial<ApiRun>> & { readonly id: string };
  readonly #client: KilnClient;

  constructor(client: KilnClient, run: Readonly<Partial<ApiRun>> & { readonly id: string }) {
    this.#client = client;
    this.id = run.id;
    this.started = run;
  }

  /** Reads the run with its steps (GET /v1/runs/{id}). */
  async get(): Promise<ApiRunWithSteps> {
    return await this.#client.unwrap(this.#client.api.GET("/v1/runs/{id}", { params: { path: { id: this.id } } }));
  }

  /**
   * Waits until the run is terminal and returns it (completed, failed, cancelled …: check
   * `status`). Pushed, not polled: the server's SSE stream says when the run changed; the run is
   * read after each change, and the stream reopened if it drops (server restart).
   */
  async result(options: Readonly<{ signal?: AbortSignal; onChange?: (run: ApiRunWithSteps) => void }> = {}) {
    const changes = new RunChanges((id, types) => this.#client.openRunStream(id, types), this.id, "run,step,progress");
    const abort = () => changes.close();
    options.signal?.addEventListener("abort", abort, { once: true });
    try {
      for (;;) {
        options.signal?.throwIfAborted();
        const run = await this.get();
        options.onChange?.(run);
        if (isTerminal(run.status)) return run;
        await changes.next();
      }
    } finally {
      options.signal?.removeEventListener("abort", abort);
      changes.close();
    }
  }

  /** Cancels the run and its children (POST /v1/runs/{id}/cancel). */
  async cancel(): Promise<ApiRun> {
    return await this.#client.unwrap(
      this.#client.api.POST("/v1/runs/{id}/cancel", { params: { path: { id: this.id } }, body: {} }),
    );
  }
}

/** Creates a typed client of a Kiln server. */
export function createKilnClient(options: Readonly<KilnClientOptions>): KilnClient {
  return new KilnClient(options);
}
