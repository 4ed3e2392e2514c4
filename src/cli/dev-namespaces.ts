import type { ResolvedConfig } from "../config/resolved-config.ts";
import { KilnError } from "../errors.ts";
import { DEFAULT_NAMESPACE } from "../store/control-store.ts";
import { sha256Hex } from "../store/sql-control.ts";
import type { Store } from "../store/store.ts";

/** Every namespace `kiln dev` serves: `default`, the config's (`org_id`) and `--namespace`. */
export function devNamespaces(config: ResolvedConfig, flagNamespace: string | undefined): string[] {
  return [...new Set([DEFAULT_NAMESPACE, config.server.namespace, ...(flagNamespace ? [flagNamespace] : [])])];
}

/** The name the config's token is stored under. */
export const DEV_CONFIG_TOKEN_NAME = "kiln dev: the config's server token";

/**
 * Makes the config work against this dev server unchanged: creates every namespace it names and
 * stores its token (`token` / `worker_token`, as its hash) as a worker and developer of the
 * config's namespace, so both `kiln worker --config` and the CLI beside the config are let in.
 */
export async function provisionDevAccess(
  store: Store,
  p: Readonly<{ config: ResolvedConfig; namespaces: readonly string[] }>,
): Promise<{ tokenImported: boolean }> {
  for (const name of p.namespaces) await store.createNamespace({ name });
  const token = p.config.server.token;
  if (token === null || token === "") return { tokenImported: false };
  // A token this store already knows by another name (say, an admin token created here and
  // exported as KILN_TOKEN) keeps its own scope: importing would change what it may do.
  const known = await store.findToken({ hash: sha256Hex(token) });
  if (known && known.name !== DEV_CONFIG_TOKEN_NAME) return { tokenImported: false };
  try {
    await store.importToken({
      name: DEV_CONFIG_TOKEN_NAME,
      namespace: p.config.server.namespace,
      role: "worker",
      extraRoles: ["developer"],
      plaintext: token,
    });
  } catch (cause) {
    throw new KilnError(
      "INVALID_CONFIG",
      `kiln dev cannot accept the config's server token (token / worker_token): ${(cause as Error).message}`,
      { cause },
    );
  }
  return { tokenImported: true };
}

/**
 * The port `kiln dev` binds when --port is not given: the port of the config's server address
 * when it names this machine (so a config's `grpc_address: "localhost:9090"` and the dev server
 * meet), else 7700.
 */
export function devPort(config: ResolvedConfig, flagPort: string | undefined): number {
  if (flagPort !== undefined) return Number(flagPort);
  if (config.files.length > 0) {
    const url = new URL(config.server.url);
    const local = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
    if (local && url.port !== "") return Number(url.port);
  }
  return 7700;
}
