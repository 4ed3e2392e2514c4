import { KilnError } from "../errors.ts";
import { ACCOUNT_SESSION_PREFIX } from "../store/account-store.ts";
import { ALL_NAMESPACES, DEFAULT_NAMESPACE, type TokenRole } from "../store/control-store.ts";
import { sha256Hex } from "../store/sql-control.ts";
import type { Access, AppContext } from "./api-route.ts";
import type { ServerDeps } from "./server-deps.ts";
import { LOOPBACK_SESSION_PRINCIPAL, LoopbackSessions, readSessionCookie } from "./session-cookie.ts";

/**
 * Authentication and authorization of API requests (ARCHITECTURE.md "Server, auth, secrets").
 *
 * - Credentials: `Authorization: Bearer kiln_…`; Basic with a token as password (any user); or
 *   Basic with an account's name and password (account-auth.ts), told apart from a token by the
 *   password not starting with `kiln_` (which account passwords may not).
 *   Streams (SSE, WebSocket) also accept `?access_token=`, since browsers cannot set headers there.
 * - Namespace of a request: the `Kiln-Namespace` header or `?namespace=`, else the token's own
 *   (`default` for a `*` token). A token acts only in its namespace; `*` in every one.
 * - Roles: admin (everything), developer (runs, events, deploys, secrets; not tokens), viewer
 *   (read only), worker (the worker protocol and reading runs). See ACCESS in api-route.ts.
 * - The web UI's HttpOnly cookie `kiln_session` (session-cookie.ts) carries a token, an account
 *   session (`as.…`, kept in the store) or, in loopback-open mode, a loopback session; header and query tokens take precedence over it.
 * - `auth: "loopback-open"`: requests without credentials from 127.0.0.1/::1 act as a `*` admin,
 *   except on routes whose access has `tokenRequired` (deploys, secrets, tokens, namespaces, the
 *   worker protocol): those need a credential even from loopback, since any web page can make a
 *   browser send requests to 127.0.0.1 and only credentials tell its user apart from that page.
 */

/** How the server authenticates requests. */
export type AuthMode = "required" | "loopback-open";

/** Who is calling. */
export interface Principal {
  /**
   * `loopback`: no credential (loopback-open mode); `session`: the UI's loopback session cookie;
   * `account`: an account's password or UI session (`name` is the account).
   */
  readonly kind: "token" | "loopback" | "session" | "account";
  /** The token id (null for loopback requests). */
  readonly tokenId: string | null;
  readonly name: string;
  readonly role: TokenRole;
  /** Roles besides `role` (a `kiln dev` config token is a worker and a developer). */
  readonly extraRoles?: readonly TokenRole[];
  /** The token's namespace, or `*`. */
  readonly namespace: string;
}

/** How a request presented its credential (`none`: a loopback request without one). */
export type CredentialSource = "header" | "query" | "cookie" | "none";

/** The caller and how it proved who it is. */
export interface Authenticated {
  readonly principal: Principal;
  readonly via: CredentialSource;
}

/** The caller and the namespace the request acts in. */
export interface RequestAuth {
  readonly principal: Principal;
  readonly namespace: string;
}

/** The principal of unauthenticated loopback requests in `loopback-open` mode. */
export const LOOPBACK_PRINCIPAL: Principal = Object.freeze({
  kind: "loopback",
  tokenId: null,
  name: "loopback",
  role: "admin",
  namespace: ALL_NAMESPACES,
});

/** Whether an address is the local host (IPv4 127/8, ::1, IPv4-mapped). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith("::ffff:") ? address.slice(7) : address;
  return a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** Whether a host name to bind is loopback-only. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || isLoopbackAddress(host);
}

/** A credential a request carries: a token, or an account's name and password (HTTP Basic). */
export type Credential =
  | { readonly kind: "token"; readonly token: string }
  | { readonly kind: "password"; readonly name: string; readonly password: string };

/** The credential a request carries, if any. */
export function requestCredential(c: AppContext, allowQueryToken: boolean): Credential | undefined {
  const header = c.req.header("authorization");
  if (header !== undefined) {
    const [scheme, value = ""] = header.trim().split(/\s+/, 2);
    if (/^bearer$/i.test(scheme ?? "")) return { kind: "token", token: value };
    if (/^basic$/i.test(scheme ?? "")) {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      const password = colon === -1 ? decoded : decoded.slice(colon + 1);
      const name = colon === -1 ? "" : decoded.slice(0, colon);
      // Tokens start with `kiln_` and account passwords may not, so the password tells them apart.
      if (password.startsWith("kiln_") || name === "") return { kind: "token", token: password };
      return { kind: "password", name, password };
    }
    throw new KilnError("UNAUTHENTICATED", `Unsupported authorization scheme "${scheme}"; use Bearer or Basic`);
  }
  const token = allowQueryToken ? c.req.query("access_token") : undefined;
  return token === undefined ? undefined : { kind: "token", token };
}

/** The token a request carries, if any (an account's Basic credential is not one). */
export function requestToken(c: AppContext, allowQueryToken: boolean): string | undefined {
  const credential = requestCredential(c, allowQueryToken);
  return credential?.kind === "token" ? credential.token : undefined;
}

/** A key that tells callers apart (rate limits, stream caps, the audit log's actor). */
export function principalKey(principal: Principal): string {
  if (principal.kind === "account") return `account:${principal.name}`;
  return principal.tokenId ?? principal.kind;
}

/** Identifies the caller; UNAUTHENTICATED when it cannot. */
export async function authenticate(c: AppContext, deps: ServerDeps, allowQueryToken: boolean): Promise<Authenticated> {
  const credential = requestCredential(c, allowQueryToken);
  if (credential?.kind === "password") {
    return { principal: await deps.accounts.verify(credential.name, credential.password), via: "header" };
  }
  const token = credential?.token;
  if (token !== undefined && token !== "") {
    return { principal: await tokenPrincipal(deps, token), via: c.req.header("authorization") ? "header" : "query" };
  }
  const cookie = readSessionCookie(c);
  if (cookie !== undefined) return { principal: await cookiePrincipal(deps, cookie), via: "cookie" };
  if (deps.auth.mode === "loopback-open" && isLoopbackAddress(c.env?.incoming?.socket?.remoteAddress)) {
    return { principal: LOOPBACK_PRINCIPAL, via: "none" };
  }
  throw new KilnError(
    "UNAUTHENTICATED",
    `This request needs a token: send "Authorization: Bearer kiln_…"${deps.auth.adminTokenOnDisk ? ADMIN_TOKEN_HINT : ""}`,
  );
}

// An HTTP answer never names the admin token's file: anyone who can reach the port would learn
// where the server keeps its most powerful credential. The server's own startup log says it.
const ADMIN_TOKEN_HINT =
  " (on the server's machine, the kiln CLI reads the admin token from the server's data directory: pass --data DIR)";

/** The principal of a token; UNAUTHENTICATED when it is unknown or revoked. */
export async function tokenPrincipal(deps: ServerDeps, token: string): Promise<Principal> {
  const found = await deps.tokens.lookup(sha256Hex(token));
  if (!found || found.revokedAt !== null) {
    throw new KilnError("UNAUTHENTICATED", "The token is unknown or revoked; create one with `kiln tokens create`");
  }
  deps.tokens.noteUse(found.id);
  return {
    kind: "token",
    tokenId: found.id,
    name: found.name,
    role: found.role,
    ...(found.extraRoles ? { extraRoles: found.extraRoles } : {}),
    namespace: found.namespace,
  };
}

/** The principal of a session cookie: a loopback session of this process, or a token. */
async function cookiePrincipal(deps: ServerDeps, value: string): Promise<Principal> {
  if (value.startsWith(ACCOUNT_SESSION_PREFIX)) return deps.accounts.sessionPrincipal(value);
  if (!LoopbackSessions.isLoopbackValue(value)) return tokenPrincipal(deps, value);
  if (deps.auth.mode === "loopback-open" && deps.sessions.verify(value)) return LOOPBACK_SESSION_PRINCIPAL;
  throw new KilnError(
    "UNAUTHENTICATED",
    "The UI session has ended (the server restarted or now requires tokens); reload the page or sign in with a token",
  );
}

/** Refuses a request without a credential on a route that needs one even in loopback-open mode. */
export function requireCredential(c: AppContext, deps: ServerDeps, who: Authenticated, access: Access): void {
  if (who.via !== "none" || access.roles === "public" || access.tokenRequired !== true) return;
  throw new KilnError(
    "UNAUTHENTICATED",
    `${c.req.method} ${c.req.routePath} needs a token even from loopback: send "Authorization: Bearer kiln_…"${deps.auth.adminTokenOnDisk ? ADMIN_TOKEN_HINT : ""}`,
  );
}

/** The namespace a request names, if it names one. */
export function requestedNamespace(c: AppContext): string | undefined {
  const value = c.req.header("kiln-namespace") ?? c.req.query("namespace");
  // Looked up before any route validates its query: PostgreSQL fails on a NUL in a text parameter.
  if (value?.includes("\u0000")) {
    throw new KilnError(
      "INVALID_INPUT",
      "Invalid request query.namespace: must not contain a NUL character (\\u0000); name an existing namespace",
    );
  }
  return value === undefined || value === "" ? undefined : value;
}

/**
 * Checks the caller's role and namespace against a route's access. Returns the namespace the
 * request acts in. FORBIDDEN says which role or namespace was missing.
 */
export async function authorize(
  c: AppContext,
  deps: ServerDeps,
  principal: Principal,
  access: Exclude<Access, { roles: "public" }>,
): Promise<RequestAuth> {
  if (![principal.role, ...(principal.extraRoles ?? [])].some((role) => access.roles.includes(role))) {
    throw new KilnError(
      "FORBIDDEN",
      `A ${principal.role} ${principal.kind === "account" ? "account" : "token"} may not ${c.req.method} ${c.req.routePath}; this needs one of: ${access.roles.join(", ")}`,
    );
  }
  const all = principal.namespace === ALL_NAMESPACES;
  if (access.scope === "global" && !all) {
    throw new KilnError(
      "FORBIDDEN",
      `${c.req.method} ${c.req.routePath} concerns every namespace; it needs a token for namespace "*"`,
    );
  }
  const asked = requestedNamespace(c);
  const namespace = asked ?? (all ? DEFAULT_NAMESPACE : principal.namespace);
  if (!all && namespace !== principal.namespace) {
    throw new KilnError(
      "FORBIDDEN",
      `This token belongs to namespace "${principal.namespace}" and may not act in namespace "${namespace}"`,
    );
  }
  if (!(await deps.namespaces.exists(namespace))) {
    throw new KilnError(
      "NAMESPACE_NOT_FOUND",
      `No namespace "${namespace}"; create it with \`kiln namespaces create ${namespace}\` or POST /v1/namespaces`,
    );
  }
  return { principal, namespace };
}
