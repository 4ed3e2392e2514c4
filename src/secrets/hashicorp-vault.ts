import NodeVault from "node-vault";
import { KilnError } from "../errors.ts";
import { pickSecretField, splitSecretPath } from "./secret-path.ts";

/** How to reach HashiCorp Vault: a token, or AppRole credentials that are exchanged for one. */
export interface HashicorpVaultOptions {
  /** e.g. `https://vault.example.com:8200` (VAULT_ADDR). */
  readonly endpoint: string;
  /** A Vault token (VAULT_TOKEN); used when no AppRole credentials are given. */
  readonly token?: string;
  /** AppRole login (VAULT_ROLE_ID, VAULT_SECRET_ID), at `auth/<approleMount>/login`. */
  readonly roleId?: string;
  readonly secretId?: string;
  /** Default `approle` (VAULT_APPROLE_MOUNT). */
  readonly approleMount?: string;
  /** Vault Enterprise namespace (VAULT_NAMESPACE). */
  readonly namespace?: string;
}

/** The Vault settings of a worker's environment (the variables Vault's own CLI reads), or null without VAULT_ADDR. */
export function hashicorpVaultOptionsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): HashicorpVaultOptions | null {
  const endpoint = env.VAULT_ADDR;
  if (!endpoint) return null;
  const pick = (name: string) => (env[name] ? { [name]: env[name] } : {});
  const v = { ...pick("VAULT_TOKEN"), ...pick("VAULT_ROLE_ID"), ...pick("VAULT_SECRET_ID") };
  return {
    endpoint,
    ...(v.VAULT_TOKEN === undefined ? {} : { token: v.VAULT_TOKEN }),
    ...(v.VAULT_ROLE_ID === undefined ? {} : { roleId: v.VAULT_ROLE_ID }),
    ...(v.VAULT_SECRET_ID === undefined ? {} : { secretId: v.VAULT_SECRET_ID }),
    ...(env.VAULT_APPROLE_MOUNT ? { approleMount: env.VAULT_APPROLE_MOUNT } : {}),
    ...(env.VAULT_NAMESPACE ? { namespace: env.VAULT_NAMESPACE } : {}),
  };
}

interface VaultFailure {
  readonly message?: string;
  readonly code?: string;
  readonly response?: { readonly statusCode?: number };
}

function unavailable(ref: string, why: string, cause: unknown): KilnError {
  return new KilnError(
    "SECRET_PROVIDER_UNAVAILABLE",
    `The secret ${ref} could not be read from HashiCorp Vault: ${why}`,
    {
      cause,
      data: { ref },
    },
  );
}

/**
 * Reads `hcvault:MOUNT/PATH#FIELD` from a KV v2 engine (`GET /v1/MOUNT/data/PATH`). With AppRole
 * credentials the worker logs in on first use and again once when the token is refused (expired).
 */
export function createHashicorpVaultProvider(options: HashicorpVaultOptions): (ref: string) => Promise<string> {
  const client = NodeVault({
    endpoint: options.endpoint,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
  });
  const approle = options.roleId !== undefined && options.secretId !== undefined;
  let login: Promise<void> | null = null;

  function logIn(ref: string): Promise<void> {
    login ??= client
      .approleLogin({
        role_id: options.roleId,
        secret_id: options.secretId,
        ...(options.approleMount === undefined ? {} : { mount_point: options.approleMount }),
      })
      .then(
        () => undefined,
        (error: VaultFailure) => {
          login = null;
          throw unavailable(
            ref,
            `the AppRole login was refused (${error.message ?? "error"}); check VAULT_ROLE_ID and VAULT_SECRET_ID`,
            error,
          );
        },
      );
    return login;
  }

  async function read(ref: string, path: string): Promise<Record<string, unknown>> {
    const slash = path.indexOf("/");
    if (slash <= 0 || slash === path.length - 1) {
      throw new KilnError(
        "SECRET_NOT_FOUND",
        `The secret ${ref} is not available: write it as hcvault:MOUNT/PATH#FIELD`,
        {
          retryable: false,
          data: { ref },
        },
      );
    }
    const body = (await client.read(`${path.slice(0, slash)}/data/${path.slice(slash + 1)}`)) as {
      data?: { data?: Record<string, unknown> | null };
    };
    const data = body?.data?.data;
    if (data == null)
      throw new KilnError("SECRET_NOT_FOUND", `The secret ${ref} is not available: it was deleted`, {
        retryable: false,
      });
    return data;
  }

  return async (fullRef) => {
    const ref = `hcvault:${fullRef}`;
    const { path, field } = splitSecretPath(ref, fullRef);
    if (approle) await logIn(ref);
    else if (options.token === undefined) {
      throw unavailable(ref, "no credentials: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID", null);
    }
    for (let tries = 0; ; tries++) {
      try {
        return pickSecretField(ref, await read(ref, path), field);
      } catch (error) {
        const status = (error as VaultFailure).response?.statusCode;
        if (status === 403 && approle && tries === 0) {
          login = null;
          await logIn(ref);
          continue;
        }
        if (status === 404) {
          throw new KilnError(
            "SECRET_NOT_FOUND",
            `The secret ${ref} is not available: Vault has no secret at ${path}`,
            {
              retryable: false,
              data: { ref },
            },
          );
        }
        if (status === 403) throw unavailable(ref, "permission denied (check the token's policy)", error);
        if (status !== undefined) throw unavailable(ref, `Vault answered ${status}`, error);
        if (error instanceof KilnError) throw error;
        throw unavailable(
          ref,
          `${options.endpoint} did not answer (${(error as VaultFailure).code ?? (error as Error).message})`,
          error,
        );
      }
    }
  };
}
