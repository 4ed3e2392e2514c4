import { KilnError } from "../errors.ts";
import type { AppContext } from "./api-route.ts";
import { isLoopbackAddress, type Principal, principalKey } from "./auth.ts";
import type { RateLimit } from "./rate-limiter.ts";
import type { ServerDeps } from "./server-deps.ts";

/**
 * The request rates a server allows, per caller class. `false` turns one class off.
 * - `default`: per API token or account (every role but worker).
 * - `worker`: per worker token (the worker protocol batches, but polls often).
 * - `anonymous`: per client address, for requests without a valid credential: public routes and
 *   failed sign-ins (so a password cannot be guessed at the speed of the network).
 */
export interface RateLimits {
  readonly default: RateLimit | false;
  readonly worker: RateLimit | false;
  readonly anonymous: RateLimit | false;
}

/** The limits when none are configured. */
export const DEFAULT_RATE_LIMITS: RateLimits = Object.freeze({
  default: { perSecond: 50, burst: 200 },
  worker: { perSecond: 2000, burst: 4000 },
  anonymous: { perSecond: 20, burst: 200 },
});

/** Limits as options give them: each class may be left out (its default) or `false` (off). */
export type RateLimitOptions = false | Partial<RateLimits>;

/** Resolves rate-limit options against the defaults (false: every class off). */
export function resolveRateLimits(options: RateLimitOptions | undefined): RateLimits {
  if (options === false) return { default: false, worker: false, anonymous: false };
  return {
    default: options?.default ?? DEFAULT_RATE_LIMITS.default,
    worker: options?.worker ?? DEFAULT_RATE_LIMITS.worker,
    anonymous: options?.anonymous ?? DEFAULT_RATE_LIMITS.anonymous,
  };
}

/**
 * Parses a limit as flags and config write it: `PER_SECOND[,BURST]` (burst defaults to four
 * seconds' worth), or `off`.
 */
export function parseRateLimit(text: string, where: string): RateLimit | false {
  if (text.trim() === "off") return false;
  const [rate, burst, ...rest] = text.split(",").map((n) => Number(n.trim()));
  const positive = (n: number | undefined) => n !== undefined && Number.isFinite(n) && n > 0;
  if (rest.length > 0 || !positive(rate) || (burst !== undefined && !(Number.isInteger(burst) && burst >= 1))) {
    throw new KilnError(
      "INVALID_CONFIG",
      `Expected ${where} to be PER_SECOND[,BURST] (e.g. 50,200) or "off", got "${text}"`,
    );
  }
  const perSecond = rate as number;
  return { perSecond, burst: burst ?? Math.max(1, Math.ceil(perSecond * 4)) };
}

/** Takes one request from the caller's bucket; RATE_LIMITED with Retry-After when it is empty. */
export function limitPrincipal(deps: ServerDeps, principal: Principal): void {
  if (principal.kind === "loopback" || principal.kind === "session") return;
  const limit = principal.role === "worker" ? deps.auth.rateLimit.worker : deps.auth.rateLimit.default;
  take(
    deps,
    principalKey(principal),
    limit,
    principal.kind === "account" ? `account "${principal.name}"` : "this token",
  );
}

/** Takes one request from the bucket of the client's address (requests without a valid credential). */
export function limitAnonymous(c: AppContext, deps: ServerDeps): void {
  const address = c.env?.incoming?.socket?.remoteAddress;
  // Loopback callers of a loopback-open server (`kiln dev`) are the machine's own user: never limited.
  if (deps.auth.mode === "loopback-open" && isLoopbackAddress(address)) return;
  take(
    deps,
    `address:${address ?? "-"}`,
    deps.auth.rateLimit.anonymous,
    `unauthenticated requests from ${address ?? "-"}`,
  );
}

function take(deps: ServerDeps, key: string, limit: RateLimit | false, who: string): void {
  if (limit === false) return;
  const waitMs = deps.rateLimiter.take(key, limit);
  if (waitMs <= 0) return;
  const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
  throw new KilnError(
    "RATE_LIMITED",
    `Too many requests for ${who} (${limit.perSecond}/s, bursts of ${limit.burst}); retry after ${retryAfterSeconds} s`,
    { data: { retryAfterSeconds } },
  );
}
