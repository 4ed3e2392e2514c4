import { KilnError } from "../errors.ts";
import type { AppContext } from "./api-route.ts";
import { isLoopbackHost } from "./auth.ts";
import { isApiPath } from "./session-cookie.ts";

/**
 * Checks every request passes before any route sees it: the browser-facing defences of a server
 * that may be reached from a web page (README "Security").
 *
 * - Host: a page on `evil.example` whose name is re-pointed at 127.0.0.1 (DNS rebinding) sends
 *   `Host: evil.example`; only the names the server answers for pass (HOST_NOT_ALLOWED, 421).
 * - Origin and Sec-Fetch-Site: browsers name the page that made a request; API requests from
 *   another origin are refused (CROSS_ORIGIN_FORBIDDEN, 403). No CORS headers are ever sent, so
 *   a browser never lets another origin read a response either.
 * - Content type: a JSON body must say `application/json`; the other types are the ones a page
 *   may send cross-origin without a CORS preflight (UNSUPPORTED_MEDIA_TYPE, 415).
 */

/** Options of the Host check. */
export interface HostPolicyOptions {
  /** The address the server binds (its own name always passes). */
  readonly bindHost?: string;
  /** Extra host names to answer for (a DNS name, a proxy's name). */
  readonly allowedHosts?: readonly string[];
  /** Check Host even without allowed hosts (loopback binds and loopback-open mode). */
  readonly enforce: boolean;
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** Which Host headers the server accepts. */
export class HostPolicy {
  /** Null: any host (a non-loopback bind with no allowed hosts configured; tokens guard it). */
  readonly #names: ReadonlySet<string> | null;
  #port: number | undefined;

  constructor(options: HostPolicyOptions) {
    const extra = (options.allowedHosts ?? []).map(normalizeHostName);
    const bind = options.bindHost === undefined ? [] : [normalizeHostName(bracketIpv6(options.bindHost))];
    const loopback = options.enforce || (options.bindHost !== undefined && isLoopbackHost(options.bindHost));
    this.#names =
      loopback || extra.length > 0 ? new Set([...(loopback ? LOOPBACK_NAMES : []), ...bind, ...extra]) : null;
  }

  /** The port the server listens on, once known: a Host naming another port is refused too. */
  setPort(port: number): void {
    this.#port = port;
  }

  /** HOST_NOT_ALLOWED unless the Host header names this server. */
  check(host: string | undefined): void {
    if (this.#names === null) return;
    const parsed = host === undefined ? undefined : splitHost(host);
    const ok =
      parsed !== undefined &&
      this.#names.has(parsed.name) &&
      (parsed.port === undefined || this.#port === undefined || parsed.port === this.#port);
    if (ok) return;
    throw new KilnError(
      "HOST_NOT_ALLOWED",
      `This server does not answer for host "${host ?? ""}"; use ${[...this.#names].join(", ")}${this.#port === undefined ? "" : ` (port ${this.#port})`}, or add the name with --allowed-host`,
      { data: { host: host ?? null } },
    );
  }
}

/** Lower case, without a trailing dot (`LOCALHOST.` is `localhost`). */
function normalizeHostName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}

function bracketIpv6(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** `name[:port]`, with IPv6 literals in brackets; undefined when it is not a host. */
function splitHost(host: string): { name: string; port: number | undefined } | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(host.trim());
  if (!match) return undefined;
  return { name: normalizeHostName(match[1] ?? ""), port: match[2] === undefined ? undefined : Number(match[2]) };
}

/** Whether the request's Origin names this server (scheme http or https, same host and port). */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // `null` (sandboxed frames, file: pages) and garbage are never our origin.
  }
  // A TLS-ending proxy makes the browser's https origin arrive as http: both schemes pass.
  return (url.protocol === "http:" || url.protocol === "https:") && url.host === new URL(`http://${host}`).host;
}

/**
 * CROSS_ORIGIN_FORBIDDEN when a browser says the request comes from another site or origin.
 * Checked on API paths and on every unsafe request; the UI's own pages may be opened from a link
 * elsewhere (that navigation carries no session: the cookie is SameSite=Strict).
 */
export function checkOrigin(c: AppContext): void {
  const method = c.req.method;
  if (!isApiPath(c.req.path) && (method === "GET" || method === "HEAD")) return;
  // Incoming webhooks are authenticated by their HMAC signature, which no page can forge: the
  // origin of the request does not matter (and senders may send any Origin).
  if (c.req.path.startsWith("/hooks/")) return;
  const site = c.req.header("sec-fetch-site");
  if (site === "cross-site" || site === "same-site") {
    throw new KilnError(
      "CROSS_ORIGIN_FORBIDDEN",
      `Requests from other sites are refused (Sec-Fetch-Site: ${site}); call the API from the command line, a worker or Kiln's own UI`,
    );
  }
  const origin = c.req.header("origin");
  if (origin !== undefined && !isOwnOrigin(origin, c.req.header("host"))) {
    throw new KilnError(
      "CROSS_ORIGIN_FORBIDDEN",
      `Requests from origin "${origin}" are refused; only Kiln's own UI (this server's origin) may call the API from a browser`,
    );
  }
}

/**
 * For requests a browser authenticated by itself (the session cookie): unsafe methods must show
 * positive proof of the same origin, since old browsers send neither header on some requests.
 */
export function checkCookieRequestOrigin(c: AppContext): void {
  const method = c.req.method;
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return;
  const origin = c.req.header("origin");
  const sameOrigin =
    c.req.header("sec-fetch-site") === "same-origin" ||
    (origin !== undefined && isOwnOrigin(origin, c.req.header("host")));
  if (sameOrigin) return;
  throw new KilnError(
    "CROSS_ORIGIN_FORBIDDEN",
    `A ${method} authenticated by the session cookie must come from Kiln's own UI (an Origin header of this server); scripts should send "Authorization: Bearer kiln_…" instead`,
  );
}

/** UNSUPPORTED_MEDIA_TYPE unless a request that has a body declares it as JSON. */
export function checkJsonContentType(c: AppContext): void {
  const length = c.req.header("content-length");
  const hasBody = (length !== undefined && length.trim() !== "0") || c.req.header("transfer-encoding") !== undefined;
  if (!hasBody) return;
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type)) return;
  throw new KilnError(
    "UNSUPPORTED_MEDIA_TYPE",
    `This route takes a JSON body: send "Content-Type: application/json"${type === "" ? " (none was sent)" : `, not "${type}"`}`,
  );
}
