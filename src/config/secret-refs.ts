import { KilnError } from "../errors.ts";
import type { SourcePosition } from "./resolved-config.ts";
import { replaceVariables } from "./variables.ts";

/**
 * The providers a `${secret:PROVIDER:REF}` may name. `vault` is Kiln's own encrypted vault (also
 * the meaning of a bare `${secret:NAME}`); `hcvault` is HashiCorp Vault (KV v2); `aws` is AWS
 * Secrets Manager. The worker resolves them (secrets/secret-resolver.ts); config only checks names.
 */
export const SECRET_PROVIDERS: readonly string[] = Object.freeze(["vault", "env", "file", "cmd", "hcvault", "aws"]);

function unknownProviderMessage(name: string): string | null {
  const colon = name.indexOf(":");
  if (colon < 0 || SECRET_PROVIDERS.includes(name.slice(0, colon))) return null;
  return (
    `\${secret:${name}} names no secret provider ("${name.slice(0, colon)}"); ` +
    `use one of ${SECRET_PROVIDERS.join(", ")} (e.g. \${secret:env:NAME})`
  );
}

/** What is wrong with the first secret reference of a text whose provider is unknown, or null. */
export function unknownSecretProvider(text: string): string | null {
  let message: string | null = null;
  replaceVariables(text, (ref) => {
    if (ref.secret && message === null) message = unknownProviderMessage(ref.name);
    return undefined;
  });
  return message;
}

/**
 * Refuses, at load, a secret reference whose provider Kiln does not know: it would otherwise reach
 * the script as written, or fail only when a run needs it.
 */
export function checkSecretRef(name: string, where: string, source: SourcePosition | null = null): void {
  const message = unknownProviderMessage(name);
  if (message === null) return;
  const at = source === null ? "" : `${source.file}:${source.line}: `;
  throw new KilnError("INVALID_CONFIG", `${at}${where}: ${message}`, {
    data: { ref: name, ...(source === null ? {} : { file: source.file, line: source.line }) },
  });
}
