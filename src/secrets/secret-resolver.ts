import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { KilnError } from "../errors.ts";
import { type AwsSecretsOptions, awsSecretsOptionsFromEnv, createAwsSecretsProvider } from "./aws-secrets-manager.ts";
import { splitCommandLine } from "./command-line.ts";
import { hasSealedFields } from "./sealed-input.ts";
import {
  createHashicorpVaultProvider,
  type HashicorpVaultOptions,
  hashicorpVaultOptionsFromEnv,
} from "./hashicorp-vault.ts";

/**
 * Where a secret comes from, by reference:
 * - `NAME` or `vault:NAME`: the encrypted vault of the run's namespace;
 * - `env:NAME`: an environment variable of the worker;
 * - `file:PATH`: a file on the worker (trailing newline removed);
 * - `cmd:PROGRAM ARG…`: the trimmed stdout of a command (e.g. a password manager's CLI), run
 *   without a shell: the text is split into arguments (quotes honoured), never interpreted;
 * - `hcvault:MOUNT/PATH#FIELD`: HashiCorp Vault KV v2 (VAULT_ADDR, VAULT_TOKEN or AppRole);
 * - `aws:SECRET_ID#KEY`: AWS Secrets Manager (AWS_REGION, the SDK's credential chain).
 */
export type SecretRef = string;

/** Options of createSecretResolver. */
export interface SecretResolverOptions {
  /** Vault lookups (by name, batched): the local vault, or the server over HTTP. */
  readonly vault?: (names: readonly string[]) => Promise<Readonly<Record<string, string>>>;
  /** Environment for `env:`. Default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative `file:` paths and `cmd:` run in. Default process.cwd(). */
  readonly cwd?: string;
  /** How long a `cmd:` may run. Default 30 s. */
  readonly commandTimeoutMs?: number;
  /** HashiCorp Vault settings. Default: from `env` (VAULT_ADDR, VAULT_TOKEN, VAULT_ROLE_ID, …). */
  readonly hashicorpVault?: HashicorpVaultOptions | null;
  /** AWS Secrets Manager settings. Default: from `env` (AWS_REGION, AWS_ENDPOINT_URL_SECRETS_MANAGER). */
  readonly awsSecrets?: AwsSecretsOptions;
  /**
   * Opens a run input's sealed secret fields (sealed-input.ts): the local vault, or the server over
   * HTTP. Without it, a sealed input fails the run with SECRET_NOT_FOUND.
   */
  readonly unseal?: (input: unknown) => Promise<unknown>;
}

/** Resolves secret references on the worker that needs them. */
export interface SecretResolver {
  /** The value of one reference; SECRET_NOT_FOUND when it has none. */
  resolveSecret(ref: SecretRef): Promise<string>;
  /** Values of many references (vault names fetched in one call), by reference. */
  resolveSecrets(refs: readonly SecretRef[]): Promise<Record<string, string>>;
  /** The run input with its sealed secret fields opened (the input itself when none is sealed). */
  unsealInput(input: unknown): Promise<unknown>;
}

function notFound(ref: string, why: string): KilnError {
  return new KilnError("SECRET_NOT_FOUND", `The secret ${ref} is not available: ${why}`, { data: { ref } });
}

/** A resolver over the given vault and the worker's environment, files and commands. */
export function createSecretResolver(options: SecretResolverOptions = {}): SecretResolver {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const timeout = options.commandTimeoutMs ?? 30_000;
  // Clients are built on first use: most workers never read an external manager.
  let hcvault: ((ref: string) => Promise<string>) | null = null;
  let aws: ((ref: string) => Promise<string>) | null = null;
  function hashicorp(ref: string): Promise<string> {
    if (hcvault === null) {
      const settings =
        options.hashicorpVault === undefined ? hashicorpVaultOptionsFromEnv(env) : options.hashicorpVault;
      if (settings === null) return Promise.reject(notFound(ref, "HashiCorp Vault is not configured: set VAULT_ADDR"));
      hcvault = createHashicorpVaultProvider(settings);
    }
    return hcvault(ref.slice(8));
  }

  async function local(ref: string): Promise<string | undefined> {
    if (ref.startsWith("env:")) {
      const value = env[ref.slice(4)];
      if (value === undefined) throw notFound(ref, `the environment variable ${ref.slice(4)} is not set`);
      return value;
    }
    if (ref.startsWith("file:")) {
      const path = resolve(cwd, ref.slice(5));
      try {
        return (await readFile(path, "utf8")).replace(/\r?\n$/, "");
      } catch (error) {
        throw notFound(ref, `could not read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
      }
    }
    if (ref.startsWith("cmd:")) return runCommand(ref, cwd, timeout, env);
    if (ref.startsWith("hcvault:")) return hashicorp(ref);
    if (ref.startsWith("aws:")) {
      aws ??= createAwsSecretsProvider(options.awsSecrets ?? awsSecretsOptionsFromEnv(env));
      return aws(ref.slice(4));
    }
    return undefined;
  }

  async function resolveSecrets(refs: readonly SecretRef[]): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const vaultNames = new Map<string, string>();
    for (const ref of new Set(refs)) {
      const value = await local(ref);
      if (value !== undefined) out[ref] = value;
      else vaultNames.set(ref, ref.startsWith("vault:") ? ref.slice(6) : ref);
    }
    if (vaultNames.size === 0) return out;
    if (!options.vault) throw notFound([...vaultNames.keys()].join(", "), "no vault is configured on this worker");
    const values = await options.vault([...new Set(vaultNames.values())]);
    for (const [ref, name] of vaultNames) {
      const value = values[name];
      if (value === undefined)
        throw notFound(ref, `no secret ${name} is stored in the vault (kiln secrets set ${name})`);
      out[ref] = value;
    }
    return out;
  }

  return {
    resolveSecrets,
    resolveSecret: async (ref) => (await resolveSecrets([ref]))[ref] as string,
    unsealInput: async (input) => {
      if (!hasSealedFields(input)) return input;
      if (!options.unseal) {
        throw new KilnError(
          "SECRET_NOT_FOUND",
          "The run's input holds sealed secret fields and this worker cannot open them: run it under kiln dev, or as a worker of a kiln server (`kiln worker --server URL`), which holds the master key",
        );
      }
      return await options.unseal(input);
    },
  };
}

function runCommand(
  ref: string,
  cwd: string,
  timeout: number,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const argv = splitCommandLine(ref.slice(4));
  const [program, ...args] = argv;
  if (program === undefined) return Promise.reject(notFound(ref, "the command is empty"));
  return new Promise((done, fail) => {
    execFile(
      program,
      args,
      { cwd, timeout, maxBuffer: 1_048_576, shell: false, env: env as NodeJS.ProcessEnv, windowsHide: true },
      (error, stdout, stderr) => {
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          const why =
            code === "ENOENT"
              ? `the program ${program} was not found`
              : error.killed
                ? `${program} did not finish within ${timeout} ms`
                : `${program} failed (${typeof code === "number" ? `exit code ${code}` : (code ?? "error")}): ${String(stderr).trim().slice(0, 200)}`;
          fail(notFound(ref, why));
          return;
        }
        done(String(stdout).trim());
      },
    );
  });
}
