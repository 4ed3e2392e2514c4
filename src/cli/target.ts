import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadConfig } from "../config/load-config.ts";
import type { ApiTarget } from "./api-client.ts";
import { readDevInstance } from "./dev-instance.ts";

/** Global options every command takes. */
export interface GlobalOptions {
  readonly json?: boolean;
  /** `-o table|json|jsonl` (`--json` is `-o json`). */
  readonly output?: "table" | "json" | "jsonl";
  readonly server?: string;
  readonly token?: string;
  readonly namespace?: string;
  readonly config?: string;
  readonly data?: string;
}

/** The default data directory of `kiln dev` / `kiln server`. */
export const DEFAULT_DATA_DIR = ".kiln";

/** The file in the data directory naming the config `kiln dev --config` runs with. */
export const DEV_CONFIG_POINTER = "dev-config";

/** The default API address of `kiln dev`. */
export const DEFAULT_SERVER = "http://127.0.0.1:7700";

/**
 * Resolves where the CLI talks to, once: flags, then KILN_* variables, then the URL of a running
 * `kiln dev` on the data directory, then the config beside the working directory, then defaults; the token falls back to `<data>/admin-token` written by
 * `kiln dev` / `kiln server` on first start.
 */
export function resolveTarget(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): ApiTarget {
  let config: ReturnType<typeof loadConfig> | null = null;
  const dataDir = resolve(options.data ?? env.KILN_DATA ?? DEFAULT_DATA_DIR);
  try {
    config = loadConfig({ optional: true, env, ...(options.config ? { file: options.config } : {}) });
    // No config here: the one `kiln dev --config FILE` runs with, beside its data directory.
    const devConfig = join(dataDir, DEV_CONFIG_POINTER);
    if (config.files.length === 0 && !env.KILN_CONFIG && existsSync(devConfig)) {
      config = loadConfig({ env, file: readFileSync(devConfig, "utf8").trim() });
    }
  } catch {
    // A broken config must not stop `kiln status`; commands that need it load it themselves.
  }
  const configuredUrl = config?.files.length ? config.server.url : undefined;
  // A running `kiln dev` on this data directory wins over the config's URL: it may use --port.
  const devUrl = readDevInstance(dataDir)?.url;
  const server = options.server ?? env.KILN_SERVER ?? devUrl ?? configuredUrl ?? DEFAULT_SERVER;
  const givenNamespace =
    options.namespace ?? env.KILN_NAMESPACE ?? (config?.files.length ? config.server.namespace : undefined);
  const tokenFile = join(dataDir, "admin-token");
  const token =
    options.token ??
    env.KILN_TOKEN ??
    (config?.files.length ? (config.server.token ?? undefined) : undefined) ??
    (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : null);
  return {
    server,
    namespace: givenNamespace ?? "default",
    token: token ?? null,
    ...(givenNamespace === undefined ? { namespaceFromToken: true } : {}),
  };
}
