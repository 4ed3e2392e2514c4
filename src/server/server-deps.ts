import { AccountAuth } from "./account-auth.ts";
import { AuditTrail } from "./audit-trail.ts";
import type { Logger } from "pino";
import { KilnError } from "../errors.ts";
import { SecretVault } from "../secrets/vault.ts";
import type { Store } from "../store/store.ts";
import type { AuthMode } from "./auth.ts";
import { ClaimWaiter } from "./claim-waiter.ts";
import { LiveHub } from "./live-hub.ts";
import { createLogger } from "./logger.ts";
import { ServerMetrics } from "./metrics.ts";
import { NamespaceCache } from "./namespace-cache.ts";
import { RateLimiter } from "./rate-limiter.ts";
import { type RateLimitOptions, type RateLimits, resolveRateLimits } from "./rate-limits.ts";
import { HostPolicy } from "./request-guard.ts";
import { RunLeases } from "./run-leases.ts";
import { RunNamespaces } from "./run-namespaces.ts";
import { LoopbackSessions } from "./session-cookie.ts";
import { type StreamCaps, StreamLimits } from "./stream-limits.ts";
import { TokenCache } from "./token-cache.ts";

/** Options of createApp (and startServer). Durations in milliseconds, sizes in bytes. */
export interface AppOptions {
  readonly store: Store;
  /** The secret vault; default one over the store with the keys of KILN_MASTER_KEY or `<dataDir>/master.key`. */
  readonly vault?: SecretVault;
  /** The server's data directory (master key file, admin token). */
  readonly dataDir?: string;
  readonly logger?: Logger;
  /** Default "required". "loopback-open": requests without a token from 127.0.0.1/::1 act as admin. */
  readonly auth?: AuthMode;
  /** The address the server binds; a loopback bind only answers to loopback Host names. */
  readonly host?: string;
  /** Host names (beyond loopback names and the bound address) the server answers for. */
  readonly allowedHosts?: readonly string[];
  /** Where the bootstrap admin token is, for the message of a 401. */
  readonly adminTokenPath?: string;
  /**
   * Request rates per token or account, per worker token and per address for unauthenticated
   * requests (rate-limits.ts); false turns limiting off. Loopback-open requests are never limited.
   */
  readonly rateLimit?: RateLimitOptions;
  /** Largest request body of the API. Default 4 MiB. */
  readonly maxBodyBytes?: number;
  /** Largest request body of the worker protocol (batches). Default 64 MiB. */
  readonly maxWorkerBodyBytes?: number;
  /** Longest long-poll claim. Default 30 s. */
  readonly maxClaimWaitMs?: number;
  /** How long a token lookup is cached (a revocation on another server takes this long). Default 5 s. */
  readonly tokenCacheMs?: number;
  /** Caps on open live streams (SSE, WebSocket, log follows): per token (32) and in all (1000). */
  readonly maxStreams?: Partial<StreamCaps>;
  /** How often live feeds read the store. Default 250 ms. */
  readonly livePollMs?: number;
  /** Serve /metrics without a token. Default false (a `*` token is needed: metrics span namespaces). */
  readonly publicMetrics?: boolean;
  /** Also export Node process metrics. Default false. */
  readonly processMetrics?: boolean;
  /** The clock (epoch ms) for heartbeat ages and rate limits. Default Date.now. */
  readonly clock?: () => number;
  /** The Kiln version reported by the API. */
  readonly version?: string;
}

/** Everything a route handler may use; built once per app. */
export interface ServerDeps {
  readonly store: Store;
  readonly vault: SecretVault;
  readonly logger: Logger;
  readonly metrics: ServerMetrics;
  readonly live: LiveHub;
  readonly claims: ClaimWaiter;
  readonly tokens: TokenCache;
  /** Account passwords and UI sessions, checked with caching. */
  readonly accounts: AccountAuth;
  readonly namespaces: NamespaceCache;
  readonly runNamespaces: RunNamespaces;
  /** The latest lease token of runs, to fence log lines. */
  readonly runLeases: RunLeases;
  readonly rateLimiter: RateLimiter;
  /** Which Host headers pass (DNS rebinding defence). */
  readonly hosts: HostPolicy;
  /** Open live streams, per token and in all. */
  readonly streams: StreamLimits;
  /** The UI's loopback sessions (loopback-open mode). */
  readonly sessions: LoopbackSessions;
  readonly auth: {
    readonly mode: AuthMode;
    /** Whether an admin token file exists for local CLIs (its path is never sent over HTTP). */
    readonly adminTokenOnDisk: boolean;
    readonly rateLimit: RateLimits;
    readonly publicMetrics: boolean;
  };
  readonly limits: { readonly apiBodyBytes: number; readonly workerBodyBytes: number; readonly maxClaimWaitMs: number };
  readonly clock: () => number;
  readonly version: string;
  /** Records every state-changing call (batched writes). */
  readonly audit: AuditTrail;
}

/** Builds the server's dependencies from its options. */
export function createServerDeps(options: AppOptions): ServerDeps {
  const clock = options.clock ?? Date.now;
  const { store } = options;
  let vault = options.vault;
  if (!vault) {
    if (options.dataDir === undefined && !process.env.KILN_MASTER_KEY) {
      throw new KilnError(
        "INVALID_CONFIG",
        "The server needs a data directory (for its master key file) or KILN_MASTER_KEY to encrypt secrets",
      );
    }
    vault = SecretVault.open(store, { dataDir: options.dataDir ?? "." });
  }
  const rateLimit = resolveRateLimits(options.rateLimit);
  const logger = options.logger ?? createLogger();
  return {
    store,
    vault,
    logger,
    audit: new AuditTrail(store.audit, { logger }),
    metrics: new ServerMetrics(store, { clock, processMetrics: options.processMetrics ?? false }),
    live: new LiveHub(store, { pollMs: options.livePollMs ?? 250 }),
    claims: new ClaimWaiter(store, clock),
    tokens: new TokenCache(store, {
      clock,
      ...(options.tokenCacheMs === undefined ? {} : { ttlMs: options.tokenCacheMs }),
    }),
    accounts: new AccountAuth(store.accounts, {
      clock,
      ...(options.tokenCacheMs === undefined ? {} : { ttlMs: options.tokenCacheMs }),
    }),
    namespaces: new NamespaceCache(store, { clock }),
    runNamespaces: new RunNamespaces(store),
    runLeases: new RunLeases(store, clock),
    rateLimiter: new RateLimiter(clock),
    hosts: new HostPolicy({
      enforce: (options.auth ?? "required") === "loopback-open",
      ...(options.host === undefined ? {} : { bindHost: options.host }),
      ...(options.allowedHosts === undefined ? {} : { allowedHosts: options.allowedHosts }),
    }),
    sessions: new LoopbackSessions(),
    streams: new StreamLimits(options.maxStreams ?? {}),
    auth: {
      mode: options.auth ?? "required",
      adminTokenOnDisk: options.adminTokenPath !== undefined,
      rateLimit,
      publicMetrics: options.publicMetrics ?? false,
    },
    limits: {
      apiBodyBytes: options.maxBodyBytes ?? 4 * 1_048_576,
      workerBodyBytes: options.maxWorkerBodyBytes ?? 64 * 1_048_576,
      maxClaimWaitMs: options.maxClaimWaitMs ?? 30_000,
    },
    clock,
    version: options.version ?? "0.1.0",
  };
}
