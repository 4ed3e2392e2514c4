import { KilnError } from "../../errors.ts";
import { COMPATIBILITY_DATE } from "./bundle-worker.ts";
import type { CloudflareApi } from "./cloudflare-api.ts";

interface LocalWorker {
  ready: Promise<URL>;
  dispose(): Promise<void>;
}

/**
 * Cloudflare Workers on this machine: each uploaded script runs in Cloudflare's own runtime,
 * `workerd`, through the `miniflare` package, on a loopback port. miniflare is loaded on first
 * use, so Kiln runs without it when no workflow uses the cloudflare adapter locally.
 */
export function miniflareApi(): CloudflareApi {
  const workers = new Map<string, LocalWorker>();
  return {
    uploadScript: async (p) => {
      let Miniflare: typeof import("miniflare").Miniflare;
      try {
        ({ Miniflare } = await import("miniflare"));
      } catch (error) {
        throw new KilnError(
          "INVALID_CONFIG",
          "The cloudflare adapter runs Workers locally with the miniflare package, which is not installed: run `npm install miniflare`, or set worker.cloudflare.account_id and api_token to use a Cloudflare account",
          { cause: error },
        );
      }
      await workers.get(p.name)?.dispose();
      const mf = new Miniflare({
        name: p.name,
        modules: true,
        script: p.module,
        compatibilityDate: COMPATIBILITY_DATE,
        bindings: { KILN_TOKEN: p.token },
      });
      workers.set(p.name, mf);
      try {
        return { url: String(await mf.ready) };
      } catch (error) {
        workers.delete(p.name);
        await mf.dispose().catch(() => {});
        throw new KilnError(
          "WORKFLOW_LOAD_FAILED",
          `workerd refused the Worker ${p.name}: ${(error as Error).message}`,
          {
            cause: error,
            retryable: false,
          },
        );
      }
    },
    deleteScript: async (p) => {
      const mf = workers.get(p.name);
      workers.delete(p.name);
      await mf?.dispose();
    },
    close: async () => {
      const all = [...workers.values()];
      workers.clear();
      await Promise.all(all.map((mf) => mf.dispose().catch(() => {})));
    },
  };
}
