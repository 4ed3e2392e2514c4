import { join } from "node:path";
import type { ResolvedSecrets } from "../config/forge-sections.ts";
import type { SecretRef, SecretResolver } from "./secret-resolver.ts";

// A bare reference is a plain name (`${secret:DB_PASSWORD}`); `env:`, `file:`, `cmd:`, `vault:` … are explicit.
const BARE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The explicit reference a bare name stands for under the config's `secrets.provider`. */
export function explicitSecretRef(ref: SecretRef, settings: ResolvedSecrets): SecretRef {
  if (!BARE.test(ref)) return ref;
  if (settings.provider === "env") return `env:${settings.envPrefix}${ref}`;
  if (settings.provider === "file") return `file:${join(settings.directory ?? ".", ref)}`;
  return ref;
}

/**
 * A resolver where bare names resolve through the config's `secrets.provider` (the Forge
 * `secrets:` section); results stay keyed by the references the caller asked for.
 */
export function withDefaultSecretProvider(resolver: SecretResolver, settings: ResolvedSecrets): SecretResolver {
  if (settings.provider === "kiln") return resolver;
  const resolveSecrets = async (refs: readonly SecretRef[]): Promise<Record<string, string>> => {
    const explicit = refs.map((ref) => explicitSecretRef(ref, settings));
    const values = await resolver.resolveSecrets(explicit);
    const out: Record<string, string> = {};
    refs.forEach((ref, i) => {
      const value = values[explicit[i] as string];
      if (value !== undefined) out[ref] = value;
    });
    return out;
  };
  return {
    resolveSecrets,
    resolveSecret: async (ref) => (await resolveSecrets([ref]))[ref] as string,
    unsealInput: (input) => resolver.unsealInput(input),
  };
}
