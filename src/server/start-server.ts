import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer, type WebSocketServerLike } from "@hono/node-server";
import { WebSocketServer } from "ws";
import { KilnError } from "../errors.ts";
import { ADMIN_TOKEN_FILE, ensureAdminToken } from "./admin-token.ts";
import { createApp, type KilnApp } from "./app.ts";
import { isLoopbackHost } from "./auth.ts";
import { Housekeeper } from "./housekeeper.ts";
import { WebhookDispatcher, type WebhookDeliverySettings } from "./webhook-dispatcher.ts";
import { createLogger } from "./logger.ts";
import { Scheduler } from "./scheduler.ts";
import type { AppOptions } from "./server-deps.ts";
import { join } from "node:path";

/** Options of startServer (beyond the app's). */
export interface StartServerOptions extends Omit<AppOptions, "adminTokenPath"> {
  /** Default 127.0.0.1. A non-loopback host requires `auth: "required"`. */
  readonly host?: string;
  /** Default 7700; 0 picks a free port. */
  readonly port?: number;
  /** The server's data directory: master key file and admin token. */
  readonly dataDir: string;
  /** Write a `*` admin token to `<dataDir>/admin-token` on first start. Default true. */
  readonly adminToken?: boolean;
  /** Run the housekeeper (sweeps, token use, worker pruning). Default true. */
  readonly housekeeping?: boolean;
  readonly sweepIntervalMs?: number;
  /** Audit records older than this are deleted by housekeeping. Default 90 days. */
  readonly auditRetentionMs?: number;
  /** Finished runs (with steps and logs) older than this are deleted. Default: kept. */
  readonly runRetentionMs?: number;
  /** Per-namespace retention of finished runs. */
  readonly namespaceRetentionMs?: Readonly<Record<string, number>>;
  /** How outgoing webhooks are retried (sent by every server that runs housekeeping). */
  readonly webhookDelivery?: Partial<WebhookDeliverySettings>;
  /** Run the scheduler (fires due schedules). Default true. */
  readonly scheduling?: boolean;
}

/** A listening Kiln server. */
export interface KilnServer {
  /** `http://host:port` (IPv6 hosts in brackets). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly app: KilnApp;
  readonly housekeeper: Housekeeper | undefined;
  readonly scheduler: Scheduler | undefined;
  /** Where the admin token is (when adminToken is on). */
  readonly adminTokenPath: string | undefined;
  readonly http: Server;
  /** Stops accepting requests, ends streams and long polls, stops housekeeping. Leaves the store open. */
  close(): Promise<void>;
}

/**
 * Starts the API on a port with @hono/node-server (HTTP + WebSocket upgrades), writes the admin
 * token on first start, and runs the housekeeper. Refuses to bind a non-loopback address without
 * auth.
 */
export async function startServer(options: StartServerOptions): Promise<KilnServer> {
  const host = options.host ?? "127.0.0.1";
  const auth = options.auth ?? "required";
  if (auth !== "required" && !isLoopbackHost(host)) {
    throw new KilnError(
      "INVALID_CONFIG",
      `Refusing to listen on ${host} with auth "${auth}": only a loopback address (127.0.0.1, ::1) may be served without tokens. Use auth "required" (the default) or bind 127.0.0.1`,
    );
  }
  const logger = options.logger ?? createLogger();
  const adminTokenPath = options.adminToken === false ? undefined : join(options.dataDir, ADMIN_TOKEN_FILE);
  const kiln = createApp({
    ...options,
    host,
    auth,
    logger,
    ...(adminTokenPath === undefined ? {} : { adminTokenPath }),
  });
  for (const warning of kiln.deps.vault.warnings) logger.warn(warning);
  if (options.store.dialect === "postgres" && kiln.deps.vault.keySource !== "env") {
    logger.warn(
      `Secrets are encrypted with the key file in ${options.dataDir}; every server sharing this database needs the same key: set KILN_MASTER_KEY on all of them`,
    );
  }
  if (adminTokenPath !== undefined) {
    const admin = await ensureAdminToken(options.store, options.dataDir);
    if (admin.state === "created") logger.info({ path: admin.path }, `Admin token written to ${admin.path}`);
    else if (admin.state === "revoked")
      logger.warn({ path: admin.path }, `The admin token in ${admin.path} is revoked`);
  }

  const wss = new WebSocketServer({ noServer: true });
  const http = createAdaptorServer({
    fetch: kiln.app.fetch, // ws declares `noServer?: boolean`, which exactOptionalPropertyTypes tells apart from the adapter's type.
    websocket: { server: wss as unknown as WebSocketServerLike },
  }) as Server;
  // Long polls and streams outlive Node's defaults; idle keep-alive connections are kept for a
  // minute so that workers reuse them.
  http.keepAliveTimeout = 65_000;
  http.headersTimeout = 66_000;
  http.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    http.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new KilnError(
          "INVALID_CONFIG",
          error.code === "EADDRINUSE"
            ? `Port ${options.port ?? 7700} on ${host} is already in use; choose another with --port`
            : `Could not listen on ${host}:${options.port ?? 7700}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    http.listen(options.port ?? 7700, host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  kiln.deps.hosts.setPort(address.port);
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;

  let housekeeper: Housekeeper | undefined;
  let webhooks: WebhookDispatcher | undefined;
  if (options.housekeeping !== false) {
    housekeeper = new Housekeeper({
      store: options.store,
      tokens: kiln.deps.tokens,
      logger,
      ...(options.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: options.sweepIntervalMs }),
      ...(options.auditRetentionMs === undefined ? {} : { auditRetentionMs: options.auditRetentionMs }),
      ...(options.runRetentionMs === undefined ? {} : { runRetentionMs: options.runRetentionMs }),
      ...(options.namespaceRetentionMs === undefined ? {} : { namespaceRetentionMs: options.namespaceRetentionMs }),
      onPurged: (deleted) => {
        for (const [kind, n] of Object.entries(deleted)) kiln.deps.metrics.retentionDeleted.inc({ kind }, n);
      },
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    housekeeper.start();
    webhooks = new WebhookDispatcher({
      store: options.store,
      vault: kiln.deps.vault,
      logger,
      metrics: kiln.deps.metrics,
      ...(options.webhookDelivery === undefined ? {} : { settings: options.webhookDelivery }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    webhooks.start();
  }
  const scheduler =
    options.scheduling === false
      ? undefined
      : new Scheduler({
          store: options.store,
          logger,
          metrics: kiln.deps.metrics,
          ...(options.clock === undefined ? {} : { clock: options.clock }),
        });
  scheduler?.start();
  logger.info({ url, store: options.store.dialect, auth }, `Kiln server listening at ${url}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    host,
    port: address.port,
    app: kiln,
    housekeeper,
    scheduler,
    adminTokenPath,
    http,
    close: () =>
      (closing ??= (async () => {
        await housekeeper?.stop();
        await webhooks?.stop();
        await scheduler?.stop();
        await kiln.close();
        for (const client of wss.clients) client.terminate();
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        http.closeIdleConnections();
        // Give in-flight requests a moment, then cut what is left (long polls, streams).
        const timer = setTimeout(() => http.closeAllConnections(), 2000);
        await closed;
        clearTimeout(timer);
        await kiln.deps.tokens.flushUsage().catch(() => {});
      })()),
  };
}
