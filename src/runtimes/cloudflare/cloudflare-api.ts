import { KilnError } from "../../errors.ts";
import { COMPATIBILITY_DATE } from "./bundle-worker.ts";

/** Params of CloudflareApi.uploadScript. */
export interface UploadScriptParams {
  /** The Worker's name (`kiln-<hash>`): one per deployed code version. */
  readonly name: string;
  /** The bundled ES module (see bundleWorkflowWorker). */
  readonly module: string;
  /** The bearer token the Worker accepts (bound as the secret `KILN_TOKEN`). */
  readonly token: string;
}

/**
 * Where the cloudflare adapter puts Workers: the Cloudflare API for a real account
 * (`cloudflareHttpApi`), or a local `workerd` through miniflare (`miniflareApi`, tests and
 * `kiln dev`). Upload is idempotent (same name: replaced).
 */
export interface CloudflareApi {
  /** Uploads (or replaces) a Worker and returns the URL Kiln POSTs activations to. */
  uploadScript(p: Readonly<UploadScriptParams>): Promise<{ readonly url: string }>;
  /** Deletes a Worker (absent: no error). */
  deleteScript(p: Readonly<{ name: string }>): Promise<void>;
  /** Releases what the implementation holds (local runtimes); the Workers of a real account stay. */
  close(): Promise<void>;
}

/** Settings of the real Cloudflare API. */
export interface CloudflareHttpApiOptions {
  readonly accountId: string;
  /** An API token with the "Workers Scripts: Edit" permission. */
  readonly apiToken: string;
  /** Default `https://api.cloudflare.com/client/v4`. */
  readonly baseUrl?: string;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
}

/**
 * The Cloudflare REST API: uploads a module Worker (multipart: `metadata` + the module), enables
 * its workers.dev route, and returns `https://<name>.<account subdomain>.workers.dev`. Written to
 * Cloudflare's documented endpoints; Kiln's tests cannot reach a real account, so this one is
 * exercised only against a local stand-in of those endpoints.
 */
export function cloudflareHttpApi(options: Readonly<CloudflareHttpApiOptions>): CloudflareApi {
  const base = `${options.baseUrl ?? "https://api.cloudflare.com/client/v4"}/accounts/${encodeURIComponent(options.accountId)}`;
  const doFetch = options.fetch ?? fetch;
  let subdomain: Promise<string> | undefined;
  const call = async (
    method: string,
    path: string,
    body?: string | FormData,
    contentType?: string,
  ): Promise<unknown> => {
    const response = await doFetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.apiToken}`,
        ...(contentType ? { "content-type": contentType } : {}),
      },
      ...(body === undefined ? {} : { body }),
    });
    const json = (await response.json().catch(() => ({}))) as {
      success?: boolean;
      result?: unknown;
      errors?: { message?: string }[];
    };
    if (!response.ok || json.success === false) {
      if (method === "DELETE" && response.status === 404) return null;
      const detail = json.errors?.map((e) => e.message).join("; ") || `HTTP ${response.status}`;
      throw new KilnError(
        "CLOUDFLARE_API_FAILED",
        `The Cloudflare API refused ${method} ${path}: ${detail}. Check worker.cloudflare.account_id and that the API token may edit Workers scripts.`,
        { retryable: response.status >= 500 || response.status === 429, data: { status: response.status } },
      );
    }
    return json.result;
  };
  return {
    uploadScript: async (p) => {
      const form = new FormData();
      const metadata = {
        main_module: "worker.mjs",
        compatibility_date: COMPATIBILITY_DATE,
        bindings: [{ type: "secret_text", name: "KILN_TOKEN", text: p.token }],
      };
      form.append("metadata", new Blob([JSON.stringify(metadata)], { type: "application/json" }));
      form.append("worker.mjs", new Blob([p.module], { type: "application/javascript+module" }), "worker.mjs");
      const name = encodeURIComponent(p.name);
      await call("PUT", `/workers/scripts/${name}`, form);
      await call("POST", `/workers/scripts/${name}/subdomain`, JSON.stringify({ enabled: true }), "application/json");
      subdomain ??= call("GET", "/workers/subdomain").then((r) => String((r as { subdomain?: unknown }).subdomain));
      subdomain.catch(() => {
        subdomain = undefined;
      });
      return { url: `https://${p.name}.${await subdomain}.workers.dev/` };
    },
    deleteScript: async (p) => {
      await call("DELETE", `/workers/scripts/${encodeURIComponent(p.name)}?force=true`);
    },
    close: async () => {},
  };
}
