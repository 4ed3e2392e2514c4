import type {
  ComputeAdapterName,
  ResolvedCloudflareSettings,
  ResolvedDockerSettings,
} from "../config/resolve-compute.ts";
import { replaceVariables } from "../config/variables.ts";
import { KilnError } from "../errors.ts";
import { cloudflareHttpApi } from "./cloudflare/cloudflare-api.ts";
import { cloudflareAdapter } from "./cloudflare/cloudflare-adapter.ts";
import { miniflareApi } from "./cloudflare/miniflare-api.ts";
import { type ComputeAdapter, execAdapter } from "./compute-adapter.ts";
import { dockerAdapter } from "./docker-adapter.ts";

/** What building a worker's adapters needs. */
export interface WorkerAdapterSettings {
  readonly docker: ResolvedDockerSettings;
  readonly cloudflare: ResolvedCloudflareSettings | null;
  /** The Python interpreter of the exec adapter. */
  readonly python?: string;
  /** Resolves `${secret:NAME}` in the Cloudflare API token. */
  readonly resolveSecret: (name: string) => Promise<string>;
  /** The environment (KILN_DOCKER_CLI picks the docker CLI). Default: this process's. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A built adapter, with what it holds released by `close`. */
export interface WorkerAdapter {
  readonly adapter: ComputeAdapter;
  /** Where its hosts run, for the worker's start-up line. */
  readonly where: string;
  close(): Promise<void>;
}

/**
 * Builds one of a worker's compute adapters. One that cannot run here fails the worker's start
 * with INVALID_CONFIG (no silent fall-back to another adapter: the workflows deployed for it
 * would run somewhere their authors did not ask for).
 */
export async function buildWorkerAdapter(
  name: ComputeAdapterName,
  settings: Readonly<WorkerAdapterSettings>,
): Promise<WorkerAdapter> {
  const none = async () => {};
  switch (name) {
    case "exec":
      return {
        adapter: execAdapter(settings.python === undefined ? {} : { python: settings.python }),
        where: "local processes",
        close: none,
      };
    case "docker": {
      const d = settings.docker;
      const cli = (settings.env ?? process.env).KILN_DOCKER_CLI || d.cli || "docker";
      const adapter = dockerAdapter({
        docker: cli,
        cliArgs: d.cliArgs,
        runArgs: d.runArgs,
        ...(d.nodeImage ? { nodeImage: d.nodeImage } : {}),
        ...(d.pythonImage ? { pythonImage: d.pythonImage } : {}),
        ...(d.rootfs ? { rootfs: d.rootfs } : {}),
      });
      if (!(await adapter.available())) {
        throw new KilnError(
          "INVALID_CONFIG",
          `The docker compute adapter is configured but \`${cli} info\` does not answer: start the engine, set worker.docker.cli (or KILN_DOCKER_CLI) to a working Docker-compatible CLI such as podman, or remove docker from worker.adapters / --adapter`,
        );
      }
      return { adapter, where: `containers (${cli})`, close: none };
    }
    case "cloudflare": {
      const account = settings.cloudflare;
      const api = account
        ? cloudflareHttpApi({ accountId: account.accountId, apiToken: await expandSecrets(account.apiToken, settings) })
        : miniflareApi();
      const adapter = cloudflareAdapter({ api });
      return {
        adapter,
        where: account ? `Cloudflare account ${account.accountId}` : "a local workerd (miniflare)",
        close: () => adapter.close(),
      };
    }
  }
}

async function expandSecrets(text: string, settings: Readonly<WorkerAdapterSettings>): Promise<string> {
  const names = new Set<string>();
  replaceVariables(text, (ref) => {
    if (ref.secret) names.add(ref.name);
    return ref.secret ? "" : undefined;
  });
  const values = new Map<string, string>();
  for (const n of names) values.set(n, await settings.resolveSecret(n));
  return replaceVariables(text, (ref) => (ref.secret ? values.get(ref.name) : undefined));
}
