import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { KilnError } from "../errors.ts";
import { ALL_NAMESPACES } from "../store/control-store.ts";
import type { AppContext } from "./api-route.ts";
import type { Principal } from "./auth.ts";

/**
 * The web UI's session: an HttpOnly cookie, so that no token ever sits in a URL or in storage a
 * script can read (ARCHITECTURE.md, "UI session").
 *
 * - `kiln_session` holds a token (set by `POST /v1/session` after the user pasted it), an account
 *   session (`as.…`, after the user gave a name and password; its hash is kept in the store), or,
 *   in loopback-open mode, a loopback session: `ls.<issued ms>.<HMAC>` signed with a key that
 *   lives only in this server process (a restart ends every loopback session; reloading the
 *   page issues a new one). A loopback session acts as a `*` admin.
 * - Attributes: HttpOnly, SameSite=Strict, Path=/, Secure when the request came over https.
 * - Unsafe requests (POST, PUT, DELETE) authenticated by the cookie must prove they come from
 *   the server's own origin (see request-guard.ts), since a browser attaches cookies by itself.
 */

/** The cookie's name. */
export const SESSION_COOKIE = "kiln_session";

const LOOPBACK_PREFIX = "ls.";

/** The principal of a loopback session (the UI of `kiln dev`, opened without a login). */
export const LOOPBACK_SESSION_PRINCIPAL: Principal = Object.freeze({
  kind: "session",
  tokenId: null,
  name: "ui session",
  role: "admin",
  namespace: ALL_NAMESPACES,
});

/** Issues and checks loopback sessions with a key held by this process only. */
export class LoopbackSessions {
  readonly #key = randomBytes(32);

  /** A new loopback session cookie value. */
  issue(now: number = Date.now()): string {
    const issued = String(now);
    return `${LOOPBACK_PREFIX}${issued}.${this.#sign(issued)}`;
  }

  /** Whether a cookie value is a loopback session (of any key), to tell it from a token. */
  static isLoopbackValue(value: string): boolean {
    return value.startsWith(LOOPBACK_PREFIX);
  }

  /** Whether a loopback session value was issued by this process. */
  verify(value: string): boolean {
    const [, issued = "", mac = ""] = value.split(".");
    const expected = Buffer.from(this.#sign(issued));
    const given = Buffer.from(mac);
    return issued !== "" && given.length === expected.length && timingSafeEqual(given, expected);
  }

  #sign(issued: string): string {
    return createHmac("sha256", this.#key).update(`kiln loopback session ${issued}`).digest("base64url");
  }
}

/** The session cookie's value, if the request carries one. */
export function readSessionCookie(c: AppContext): string | undefined {
  const header = c.req.header("cookie");
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return value === "" ? undefined : value;
    }
  }
  return undefined;
}

/** Whether the request reached the server over https (directly or through a TLS-ending proxy). */
function overHttps(c: AppContext): boolean {
  // Trusting the forwarded protocol here can only add `Secure`, which makes the cookie stricter.
  return new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
}

/** Sets the session cookie on the response. */
export function setSessionCookie(c: AppContext, value: string, maxAgeMs?: number): void {
  if (!/^[\w.~-]+$/.test(value)) {
    throw new KilnError("UNAUTHENTICATED", "The token has characters a token never has; copy it again");
  }
  const secure = overHttps(c) ? "; Secure" : "";
  const maxAge = maxAgeMs === undefined ? "" : `; Max-Age=${Math.floor(maxAgeMs / 1000)}`;
  c.header("Set-Cookie", `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict${maxAge}${secure}`, {
    append: true,
  });
}

/** Clears the session cookie. */
export function clearSessionCookie(c: AppContext): void {
  const secure = overHttps(c) ? "; Secure" : "";
  c.header("Set-Cookie", `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure}`, {
    append: true,
  });
}

/** Paths the API and machines use; every other path belongs to the UI. */
export function isApiPath(path: string): boolean {
  return (
    path.startsWith("/v1/") ||
    path === "/v1" ||
    path.startsWith("/hooks/") ||
    path === "/healthz" ||
    path === "/readyz" ||
    path === "/metrics"
  );
}

/**
 * Whether a request is a browser's same-origin (or typed-in) top-level navigation, or a client
 * without fetch metadata (curl): the requests that may receive a loopback session.
 */
export function isTopLevelNavigation(c: AppContext): boolean {
  const site = c.req.header("sec-fetch-site");
  const mode = c.req.header("sec-fetch-mode");
  const dest = c.req.header("sec-fetch-dest");
  if (site !== undefined && site !== "same-origin" && site !== "none") return false;
  if (mode !== undefined && mode !== "navigate") return false;
  if (dest !== undefined && dest !== "document") return false;
  return true;
}
