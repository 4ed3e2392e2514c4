import { KilnError } from "../errors.ts";

/** The name rules of namespaces, secrets, workflows and versions, checked wherever names come in. */

/** Namespace names: lower-case, digits, `_ . -`; `*` is reserved for every-namespace tokens. */
export const NAMESPACE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
/** Secret names follow the `${secret:NAME}` grammar of config files. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Workflow names and versions: no whitespace or slashes, so they sit in URLs and CLI arguments. */
export const WORKFLOW_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
export const VERSION = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;

/** An INVALID_INPUT error with this message. */
export function invalid(message: string): KilnError {
  return new KilnError("INVALID_INPUT", message);
}

/** Returns the value when it matches the pattern; otherwise INVALID_INPUT stating the rule. */
export function expectName(what: string, value: unknown, pattern: RegExp, rule: string): string {
  if (typeof value !== "string" || !pattern.test(value)) {
    throw invalid(`Expected "${what}" to be ${rule}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a namespace name (not `*`). */
export function expectNamespaceName(value: unknown): string {
  return expectName(
    "namespace",
    value,
    NAMESPACE_NAME,
    "1-63 lower-case letters, digits, _ . - (starting alphanumeric)",
  );
}

/** Checks a secret name. */
export function expectSecretName(value: unknown): string {
  return expectName("name", value, SECRET_NAME, "a secret name: letters, digits and _ (not starting with a digit)");
}
