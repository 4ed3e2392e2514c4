import type { ResolvedConfig } from "../config/resolved-config.ts";
import { parseRateLimit, type RateLimitOptions } from "../server/rate-limits.ts";

/** The rate-limit flags over the config's `server.rate_limits`, as start-server options. */
export function rateLimitOptions(
  options: { rateLimit?: string; workerRateLimit?: string; anonymousRateLimit?: string },
  config: ResolvedConfig | undefined,
): { rateLimit?: RateLimitOptions } {
  const set = config?.server.rateLimits ?? {};
  const pick = (flag: string | undefined, configured: string | undefined, name: string) => {
    if (flag !== undefined) return parseRateLimit(flag, `--${name}`);
    return configured === undefined ? undefined : parseRateLimit(configured, `server.rate_limits`);
  };
  const limits = {
    default: pick(options.rateLimit, set.default, "rate-limit"),
    worker: pick(options.workerRateLimit, set.worker, "worker-rate-limit"),
    anonymous: pick(options.anonymousRateLimit, set.anonymous, "anonymous-rate-limit"),
  };
  const given = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
  return Object.keys(given).length === 0 ? {} : { rateLimit: given };
}
