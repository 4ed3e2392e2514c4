import { storeStartRun } from "../../flow/run/flow-start-run.ts";
import { parseDuration } from "../../engine/duration.ts";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { type Command, Option } from "commander";
import { createRequire } from "node:module";
import { SANDBOX_PROFILES, type SandboxProfile } from "../../config/sandbox-schema.ts";
import { loadConfig } from "../../config/load-config.ts";
import type { ResolvedConfig } from "../../config/resolved-config.ts";
import { KilnError, serializeError } from "../../errors.ts";
import { apiWorkflowSource, storeWorkflowSource } from "../../runtimes/deployed-workflows.ts";
import { createSecretResolver } from "../../secrets/secret-resolver.ts";
import { startWorkerHealthServer } from "../../worker/health-server.ts";
import { validateDeployment } from "../../server/deploy-validation.ts";
import type { createLogger } from "../../server/logger.ts";
import { processLogger } from "../log-format.ts";
import { localEngineClient } from "../../server/local-engine-client.ts";
import { syncConfigWebhooks } from "../../server/config-webhooks.ts";
import { applyFlowTrigger } from "../../server/flow-trigger.ts";
import { syncConfigSchedules } from "../../server/config-schedules.ts";
import { flowSchedule, syncFlowSchedule } from "../../server/flow-schedules.ts";
import { startServer } from "../../server/start-server.ts";
import { startTracing } from "../../tracing/start-tracing.ts";
import { rateLimitOptions } from "../rate-limit-options.ts";
import { openStore } from "../../store/open-store.ts";
import type { Store } from "../../store/store.ts";
import { HttpEngineClient } from "../../worker/http-engine-client.ts";
import type { WorkerLogger } from "../../worker/worker.ts";
import type { CliContext } from "../context.ts";
import type { Runner } from "../command-registry.ts";
import { takeOverWorkerInstance, workerInstanceFile } from "../../worker/worker-instance.ts";
import { devNamespaces, devPort, provisionDevAccess } from "../dev-namespaces.ts";
import { DEFAULT_DATA_DIR, DEV_CONFIG_POINTER } from "../target.ts";
import { claimDevDataDir, type DevClaim } from "../dev-instance.ts";
import { type ConfiguredWorker, createConfiguredWorker } from "../worker-setup.ts";
import { parseAdapterList, type ResolvedWorkflowSettings } from "../../config/resolve-compute.ts";

const WORKFLOW_EXTENSIONS: Readonly<Record<string, "node" | "python" | "flow">> = {
  ".js": "node",
  ".mjs": "node",
  ".ts": "node",
  ".mts": "node",
  ".py": "python",
  ".yaml": "flow",
  ".yml": "flow",
};

type Logger = ReturnType<typeof createLogger>;

function workerLogger(logger: Logger): WorkerLogger {
  return {
    info: (message, data) => logger.info(data ?? {}, message),
    warn: (message, data) => logger.warn(data ?? {}, message),
    error: (message, data) => logger.error(data ?? {}, message),
  };
}

/** The process log at the config's `logging.level` (KILN_LOG_LEVEL wins), in `--log-format`. */
function configuredLogger(config: ResolvedConfig, options: { readonly logFormat?: string }): Logger {
  return processLogger(options.logFormat, process.env.KILN_LOG_LEVEL ?? config.logging.level ?? undefined);
}

/** Loads the config beside the working directory (optional for dev/worker); every error at once. */
function readConfig(ctx: CliContext): ResolvedConfig {
  return loadConfig({ optional: true, ...(ctx.options.config ? { file: ctx.options.config } : {}) });
}

/** Deploys every workflow file under `dir` (identical source is a no-op). */
async function deployDirectory(
  store: Store,
  namespace: string,
  dir: string,
  logger: Logger,
  settings: Readonly<Record<string, ResolvedWorkflowSettings>> = {},
): Promise<number> {
  if (!existsSync(dir)) return 0;
  let deployed = 0;
  for (const file of readdirSync(dir).sort()) {
    const runtime = WORKFLOW_EXTENSIONS[extname(file).toLowerCase()];
    if (!runtime) continue;
    const name = basename(file, extname(file));
    try {
      const source = readFileSync(join(dir, file), "utf8");
      await validateDeployment({ name, runtime, source, filename: file });
      const schedule = runtime === "flow" ? flowSchedule(source, name) : undefined;
      // The config's `workflows.<name>.adapter`, as `kiln deploy` applies it.
      const adapter = runtime === "flow" ? null : (settings[name]?.adapter ?? null);
      const result = await store.deployWorkflow({ namespace, name, runtime, source, ...(adapter ? { adapter } : {}) });
      if (runtime === "flow") await applyFlowTrigger(store, { namespace, name, source });
      if (runtime === "flow") await syncFlowSchedule(store, namespace, name, schedule);
      if (result.created) {
        deployed++;
        logger.info(
          { workflow: name, version: result.deployment.version },
          `Deployed ${name} version ${result.deployment.version}`,
        );
      }
    } catch (error) {
      logger.error(
        { file, error: serializeError(error) },
        `Could not deploy ${file}: ${serializeError(error).message}`,
      );
    }
  }
  return deployed;
}

/** Upserts the config's schedules and deletes the config schedules it no longer declares. */
async function syncSchedules(store: Store, namespace: string, config: ResolvedConfig, logger: Logger): Promise<void> {
  try {
    const result = await syncConfigSchedules(store, namespace, config.schedules);
    if (result.upserted.length > 0 || result.deleted.length > 0) logger.info(result, "Config schedules synced");
  } catch (error) {
    logger.error({ error: serializeError(error) }, `Could not sync config schedules: ${serializeError(error).message}`);
  }
}

/**
 * Calls `fn` (debounced) when anything under `paths` changes; returns a stop function. A file is
 * watched through its directory, filtered by name: editors' safe-write and `sed -i` replace the
 * file (write a temp file, rename it over), which ends a watch on the old file's inode.
 */
function watchPaths(paths: readonly string[], fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const trigger = () => {
    clearTimeout(timer);
    timer = setTimeout(fn, 150);
  };
  const watchers = paths
    .filter((p) => existsSync(p))
    .map((p) => {
      if (statSync(p).isDirectory()) return watch(p, { persistent: false }, trigger);
      const name = basename(p);
      return watch(dirname(p), { persistent: false }, (_event, file) => {
        if (file === null || file === name) trigger();
      });
    });
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}

/** Resolves when SIGINT or SIGTERM arrives. */
function untilSignal(): Promise<string> {
  return new Promise((resolveSignal) => {
    const on = (signal: string) => resolveSignal(signal);
    process.once("SIGINT", on);
    process.once("SIGTERM", on);
  });
}

/** The retention flags as start-server options. */
function retentionOptions(options: {
  auditRetention?: string;
  retention?: string;
  namespaceRetention?: readonly string[];
}): { auditRetentionMs?: number; runRetentionMs?: number; namespaceRetentionMs?: Record<string, number> } {
  const perNamespace: Record<string, number> = {};
  for (const item of options.namespaceRetention ?? []) {
    const [namespace, duration] = item.split("=");
    if (!namespace || !duration) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected --namespace-retention NAMESPACE=DURATION (e.g. ci=7d), got "${item}"`,
      );
    }
    perNamespace[namespace] = parseDuration(duration);
  }
  return {
    ...(options.auditRetention === undefined ? {} : { auditRetentionMs: parseDuration(options.auditRetention) }),
    ...(options.retention === undefined ? {} : { runRetentionMs: parseDuration(options.retention) }),
    ...(Object.keys(perNamespace).length === 0 ? {} : { namespaceRetentionMs: perNamespace }),
  };
}

/** `--max-streams PER_TOKEN[,TOTAL]`: the caps on open live streams. */
function streamCaps(text: string | undefined): { perToken?: number; total?: number } {
  if (text === undefined) return {};
  const [perToken, total, ...rest] = text.split(",").map((n) => Number(n.trim()));
  const valid = (n: number | undefined) => n === undefined || (Number.isInteger(n) && n > 0);
  if (rest.length > 0 || !valid(perToken) || !valid(total)) {
    throw new KilnError(
      "INVALID_CONFIG",
      `Expected --max-streams to be PER_TOKEN or PER_TOKEN,TOTAL (positive integers), got "${text}"`,
    );
  }
  return { ...(perToken === undefined ? {} : { perToken }), ...(total === undefined ? {} : { total }) };
}

interface DevOptions {
  readonly sandbox?: SandboxProfile;
  readonly logFormat?: string;
  readonly port?: string;
  readonly host: string;
  readonly db?: string;
  readonly auth?: boolean;
  readonly workflows: string;
  readonly concurrency?: string;
  readonly allowedHost?: readonly string[];
  readonly maxStreams?: string;
  readonly auditRetention?: string;
  readonly retention?: string;
  readonly namespaceRetention?: readonly string[];
  readonly rateLimit?: string;
  readonly workerRateLimit?: string;
  readonly anonymousRateLimit?: string;
  readonly adapter?: string;
}

/** One namespace `kiln dev` serves: its in-process worker and how to (re-)register it. */
interface DevWorker {
  readonly namespace: string;
  readonly setup: ConfiguredWorker;
  register(): Promise<unknown>;
}

/** `kiln dev`: server + worker + deployments in one process on `<data>/kiln.db`. */
async function devCommand(ctx: CliContext, options: DevOptions): Promise<number> {
  const config = readConfig(ctx);
  const logger = configuredLogger(config, options);
  const dataDir = resolve(ctx.options.data ?? ctx.env.KILN_DATA ?? DEFAULT_DATA_DIR);
  const namespace = ctx.options.namespace ?? config.server.namespace;
  const namespaces = devNamespaces(config, ctx.options.namespace);
  const db = options.db ?? join(dataDir, "kiln.db");
  const claim = claimDevDataDir(dataDir);
  try {
    return await serveDev(ctx, options, { dataDir, config, namespace, namespaces, db, logger }, claim);
  } finally {
    claim.release();
  }
}

/** The body of `kiln dev` once it holds its data directory. */
async function serveDev(
  ctx: CliContext,
  options: DevOptions,
  p: Readonly<{
    dataDir: string;
    config: ResolvedConfig;
    namespace: string;
    namespaces: readonly string[];
    db: string;
    logger: Logger;
  }>,
  claim: DevClaim,
): Promise<number> {
  const { dataDir, namespace, namespaces, db, logger } = p;
  let config = p.config;
  const store = await openStore(db);
  await provisionDevAccess(store, { config, namespaces });
  const auth = options.auth ? "required" : "loopback-open";
  const server = await startServer({
    store,
    host: options.host,
    port: devPort(config, options.port),
    dataDir,
    auth,
    logger,
    allowedHosts: options.allowedHost ?? [],
    maxStreams: streamCaps(options.maxStreams),
    ...retentionOptions(options),
    ...rateLimitOptions(options, config),
    webhookDelivery: config.webhookDelivery,
  });
  const vault = server.app.deps.vault;
  const workflowsDir = resolve(config.baseDir, options.workflows);
  await deployDirectory(store, namespace, workflowsDir, logger, config.workflows);
  await syncConfigWebhooks(store, { namespace, webhooks: config.webhooks });
  await syncSchedules(store, namespace, config, logger);
  // One in-process worker per namespace the config names, so no run of theirs waits unserved.
  const workers: DevWorker[] = [];
  for (const ns of namespaces) {
    const setup: ConfiguredWorker = await createConfiguredWorker({
      // Through the server's local client, so its metrics and live feeds see the worker's writes.
      client: localEngineClient(store, server.app),
      database: db,
      startRun: storeStartRun(store),
      namespace: ns,
      dataDir,
      config,
      deployments: storeWorkflowSource(store),
      secrets: createSecretResolver({
        vault: (names) => vault.getValues({ namespace: ns, names }),
        unseal: async (input) => vault.unsealInput({ namespace: ns, input }),
        cwd: config.baseDir,
      }),
      logger: workerLogger(logger),
      ...(options.concurrency === undefined ? {} : { concurrency: Number(options.concurrency) }),
      ...(options.sandbox === undefined ? {} : { sandboxProfile: options.sandbox }),
      ...(options.adapter === undefined ? {} : { adapters: parseAdapterList(options.adapter) }),
    });
    // Only the first registration may release the leases of a previous, gone process.
    let releaseLeases = takeOverWorkerInstance(
      workerInstanceFile(dataDir, { server: `local:${db}`, namespace: ns, name: setup.worker.name }),
    ).previousGone;
    const register = () => {
      const release = releaseLeases;
      releaseLeases = false;
      return store.registerWorker({
        ...(release ? { releaseLeases: true } : {}),
        namespace: ns,
        name: setup.worker.name,
        version: config.worker.version ?? "dev",
        queues: [...config.worker.queues],
        kinds: setup.worker.registry.tasks().map((t) => ({ kind: t.kind, settings: t.settings })),
        concurrency: setup.worker.concurrency,
      });
    };
    await register();
    workers.push({ namespace: ns, setup, register });
  }
  const beat = setInterval(() => {
    for (const w of workers)
      void store.heartbeatWorker({ namespace: w.namespace, name: w.setup.worker.name }).catch(() => {});
  }, 10_000);
  beat.unref();
  for (const w of workers) await w.setup.worker.start();

  const reload = () => {
    try {
      config = readConfig(ctx);
      for (const w of workers) {
        w.setup.reload(config);
        void w.register();
      }
      void syncConfigWebhooks(store, { namespace, webhooks: config.webhooks }).catch((error: unknown) =>
        logger.error({ error: serializeError(error) }, "Config webhooks could not be saved"),
      );
      void syncSchedules(store, namespace, config, logger);
      logger.info({ tasks: config.tasks.map((t) => t.kind) }, "Config reloaded");
    } catch (error) {
      const problems = (error as KilnError).data?.problems as
        | { file: string; line: number; column: number; message: string }[]
        | undefined;
      logger.error(
        { error: serializeError(error) },
        `Config change rejected; the previous config keeps running: ${(error as Error).message}`,
      );
      for (const p of problems ?? []) logger.error(`${p.file}:${p.line}:${p.column} ${p.message}`);
    }
  };
  const stopWatchingConfig = watchPaths([...config.files, join(config.baseDir, "tasks")], reload);
  const stopWatchingWorkflows = watchPaths([workflowsDir], () => {
    void deployDirectory(store, namespace, workflowsDir, logger, config.workflows).then((n) => {
      if (n > 0) for (const w of workers) w.setup.invalidate();
    });
  });

  // The CLI in this directory finds `--config FILE` through this pointer, as it finds the admin token.
  const pointer = join(dataDir, DEV_CONFIG_POINTER);
  if (ctx.options.config) writeFileSync(pointer, `${resolve(ctx.options.config)}\n`);
  if (namespaces.length > 1) ctx.output.out(`Serving namespaces: ${namespaces.join(", ")}`);
  claim.recordUrl(server.url);
  ctx.output.out(`Kiln ready at ${server.url}`);
  if (server.adminTokenPath) ctx.output.out(`Admin token: ${server.adminTokenPath}`);
  const signal = await untilSignal();
  logger.info({ signal }, "Shutting down");
  stopWatchingConfig();
  stopWatchingWorkflows();
  clearInterval(beat);
  if (ctx.options.config) rmSync(pointer, { force: true });
  for (const w of workers) {
    await w.setup.close();
    await store.unregisterWorker({ namespace: w.namespace, name: w.setup.worker.name }).catch(() => {});
  }
  await server.close();
  await store.close();
  return 0;
}

interface ServerOptions {
  readonly logFormat?: string;
  readonly port: string;
  readonly host: string;
  readonly db?: string;
  readonly allowedHost?: readonly string[];
  readonly maxStreams?: string;
  readonly auditRetention?: string;
  readonly retention?: string;
  readonly namespaceRetention?: readonly string[];
  readonly rateLimit?: string;
  readonly workerRateLimit?: string;
  readonly anonymousRateLimit?: string;
}

/** `kiln server`: the API, timers and housekeeping on SQLite or PostgreSQL; no worker. */
async function serverCommand(ctx: CliContext, options: ServerOptions): Promise<number> {
  const logger = processLogger(options.logFormat, undefined);
  const dataDir = resolve(ctx.options.data ?? ctx.env.KILN_DATA ?? DEFAULT_DATA_DIR);
  // A server does not pick up the kiln.yaml of its working directory (often a worker's, with
  // tasks and secrets it has no use for): only --config or KILN_CONFIG name one.
  const asked = ctx.options.config !== undefined || Boolean(process.env.KILN_CONFIG);
  const config = asked ? readConfig(ctx) : undefined;
  const db = options.db ?? config?.server.database ?? join(dataDir, "kiln.db");
  const store = await openStore(db);
  const server = await startServer({
    store,
    host: options.host,
    port: Number(options.port),
    dataDir,
    auth: "required",
    logger,
    allowedHosts: options.allowedHost ?? [],
    maxStreams: streamCaps(options.maxStreams),
    ...retentionOptions(options),
    ...rateLimitOptions(options, config),
    ...(config === undefined ? {} : { webhookDelivery: config.webhookDelivery }),
  });
  if (config !== undefined) {
    await syncConfigWebhooks(store, { namespace: config.server.namespace, webhooks: config.webhooks });
    await syncSchedules(store, ctx.options.namespace ?? config.server.namespace, config, logger);
  }
  ctx.output.out(`Kiln ready at ${server.url}`);
  if (server.adminTokenPath) ctx.output.out(`Admin token: ${server.adminTokenPath}`);
  const signal = await untilSignal();
  logger.info({ signal }, "Shutting down");
  await server.close();
  await store.close();
  return 0;
}

interface WorkerOptions {
  readonly sandbox?: SandboxProfile;
  readonly logFormat?: string;
  readonly db?: string;
  readonly concurrency?: string;
  readonly name?: string;
  readonly healthPort?: string;
  readonly adapter?: string;
}

/** `--sandbox PROFILE` of `kiln dev` and `kiln worker`. */
function sandboxOption(): Option {
  return new Option(
    "--sandbox <profile>",
    "sandbox of task kinds that set none (over worker.sandbox; see docs/security.md)",
  ).choices([...SANDBOX_PROFILES]);
}

/** `kiln worker`: executes runs, remotely over HTTP (`--server`) or in-process on `--db`. */
async function workerCommand(ctx: CliContext, options: WorkerOptions): Promise<number> {
  const config = readConfig(ctx);
  const logger = configuredLogger(config, options);
  const common = {
    config,
    logger: workerLogger(logger),
    dataDir: resolve(ctx.options.data ?? ctx.env.KILN_DATA ?? DEFAULT_DATA_DIR),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.concurrency === undefined ? {} : { concurrency: Number(options.concurrency) }),
    ...(options.sandbox === undefined ? {} : { sandboxProfile: options.sandbox }),
    ...(options.adapter === undefined ? {} : { adapters: parseAdapterList(options.adapter) }),
  };
  let setup: ConfiguredWorker;
  let cleanup: () => Promise<void>;
  let reregister: (() => Promise<unknown>) | null = null;
  let stopClaiming: (() => void) | null = null;
  if (options.db) {
    const store = await openStore(options.db);
    const namespace = ctx.options.namespace ?? config.server.namespace;
    setup = await createConfiguredWorker({
      ...common,
      client: store,
      database: options.db,
      startRun: storeStartRun(store),
      namespace,
      deployments: storeWorkflowSource(store),
      secrets: createSecretResolver({ cwd: config.baseDir }),
      sweep: true,
    });
    cleanup = () => store.close();
  } else {
    const target = await ctx.api().resolveNamespace();
    if (!target.token) {
      throw new KilnError(
        "UNAUTHENTICATED",
        "kiln worker --server needs a worker token: pass --token or set KILN_TOKEN",
      );
    }
    let invalidateDeployments = () => {};
    const client = new HttpEngineClient({
      url: target.server,
      token: target.token,
      namespace: target.namespace,
      claimWaitMs: 25_000,
      logger: workerLogger(logger),
      // A deploy on the server wakes the claim: forget the deployed names so the next claim has it.
      onDeployed: () => invalidateDeployments(),
    });
    setup = await createConfiguredWorker({
      ...common,
      client,
      namespace: target.namespace,
      deployments: apiWorkflowSource((path) => ctx.api().get(path)),
      secrets: createSecretResolver({
        vault: (names) => client.getSecrets(names),
        unseal: (input) => client.unsealInput(input),
        cwd: config.baseDir,
      }),
    });
    const remote = setup;
    invalidateDeployments = () => remote.invalidate();
    const instance = takeOverWorkerInstance(
      workerInstanceFile(resolve(ctx.options.data ?? ctx.env.KILN_DATA ?? DEFAULT_DATA_DIR), {
        server: target.server,
        namespace: target.namespace,
        name: setup.worker.name,
      }),
    );
    const worker = setup.worker;
    const registration = () => ({
      name: worker.name,
      version: config.worker.version ?? "0.1.0",
      queues: [...config.worker.queues],
      kinds: worker.registry.tasks().map((t) => ({ kind: t.kind, settings: t.settings })),
      concurrency: worker.concurrency,
    });
    await client.register({ ...(instance.previousGone ? { releaseLeases: true } : {}), ...registration() });
    reregister = () => client.register(registration());
    stopClaiming = () => client.stopClaiming();
    cleanup = async () => {
      await client.unregister().catch(() => {});
      client.close();
    };
  }
  // Kubernetes probes and metrics, when asked for (--health-port, or worker.health_port).
  const healthPort = options.healthPort === undefined ? config.worker.healthPort : Number(options.healthPort);
  const health = healthPort === null ? null : await startWorkerHealthServer({ port: healthPort, worker: setup.worker });
  let current = config;
  const stopWatchingConfig = watchPaths([...config.files, join(config.baseDir, "tasks")], () => {
    // The same reload as kiln dev: a config that does not load is refused and the old one kept.
    try {
      current = readConfig(ctx);
      setup.reload(current);
      void reregister?.().catch((error: unknown) =>
        logger.warn({ error: serializeError(error) }, "Could not announce the reloaded task kinds"),
      );
      health?.countReload(true);
      logger.info({ tasks: current.tasks.map((t) => t.kind) }, "Config reloaded");
    } catch (error) {
      health?.countReload(false);
      logger.error(
        { error: serializeError(error) },
        `Config change rejected; the previous config keeps running: ${(error as Error).message}`,
      );
    }
  });
  await setup.worker.start();
  health?.setPhase("ready");
  ctx.output.out(
    `Kiln worker ${setup.worker.name} ready (${setup.worker.registry.tasks().length} task kinds)` +
      (health === null ? "" : `; health on port ${health.port}`),
  );
  const signal = await untilSignal();
  // Stop claiming at once (the long-poll claim in flight is aborted), then let running scripts
  // finish within shutdown_timeout; past it they are TERMed (then KILLed after their grace period).
  health?.setPhase("draining");
  stopClaiming?.();
  stopWatchingConfig();
  logger.info(
    { signal, activeRuns: setup.worker.activeCount, shutdownTimeoutMs: current.worker.shutdownTimeoutMs },
    "Stopped claiming; draining running runs",
  );
  await setup.close();
  await cleanup();
  await health?.close();
  logger.info({ signal }, "Worker stopped");
  return 0;
}

/**
 * Runs a long-lived command with OpenTelemetry tracing when an OTLP endpoint is configured
 * (start-tracing.ts); buffered spans are exported before the process ends.
 */
async function traced(serviceName: string, command: () => Promise<number>): Promise<number> {
  const version = createRequire(import.meta.url)("../../../package.json").version as string;
  const stop = await startTracing({ serviceName, version });
  try {
    return await command();
  } finally {
    await stop();
  }
}
const ADAPTER_FLAG = "--adapter <list>";
const ADAPTER_HELP =
  "compute adapters of deployed workflows, e.g. exec,cloudflare (default: worker.adapters, else exec); the first also runs workflows deployed without one";

/** Adds `kiln dev` (alias `serve`), `kiln server` and `kiln worker`: the long-running processes. */
export function installServeCommands(program: Command, run: Runner): void {
  program
    .command("dev")
    .alias("serve")
    .description("run server + worker on an embedded SQLite file (.kiln/kiln.db); the local default (alias: serve)")
    .option("--port <port>", "port (default: the port of the config's local server address, else 7700)")
    .option("--host <host>", "address to bind (loopback by default)", "127.0.0.1")
    .option("--db <url>", "store (default <data>/kiln.db)")
    .option("--auth", "require tokens even on loopback")
    .option("--allowed-host <name...>", "also answer requests whose Host is this name (repeatable)")
    .option("--max-streams <n[,total]>", "open live streams allowed per token (default 32) and in all (1000)")
    .option("--audit-retention <duration>", "keep audit records this long (default 90d)")
    .option("--retention <duration>", "delete finished runs (steps, logs) this long after they end (default: keep)")
    .option("--namespace-retention <ns=duration...>", "retention of finished runs for one namespace (repeatable)")
    .option("--rate-limit <per_second[,burst]>", "requests per API token or account (default 50,200; off: none)")
    .option("--worker-rate-limit <per_second[,burst]>", "requests per worker token (default 2000,4000; off: none)")
    .option(
      "--anonymous-rate-limit <per_second[,burst]>",
      "requests per client address without a valid credential (default 20,200; off: none)",
    )
    .option("--workflows <dir>", "directory of workflow files to deploy and watch", "workflows")
    .option("--concurrency <n>", "runs executed at once")
    .option("--log-format <format>", "pretty (default on a terminal) or json (default otherwise)")
    .option(ADAPTER_FLAG, ADAPTER_HELP)
    .addOption(sandboxOption())
    .action(run((ctx, opts) => traced("kiln-dev", () => devCommand(ctx, opts as DevOptions))));
  program
    .command("server")
    .description("run the API, timers and housekeeping (no worker) on SQLite or PostgreSQL")
    .option("--port <port>", "port", "7700")
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--db <url>", "a SQLite path or postgres://… URL")
    .option(
      "--allowed-host <name...>",
      "only answer requests whose Host is one of these names (default: any, or loopback names on a loopback bind)",
    )
    .option("--max-streams <n[,total]>", "open live streams allowed per token (default 32) and in all (1000)")
    .option("--audit-retention <duration>", "keep audit records this long (default 90d)")
    .option("--retention <duration>", "delete finished runs (steps, logs) this long after they end (default: keep)")
    .option("--namespace-retention <ns=duration...>", "retention of finished runs for one namespace (repeatable)")
    .option("--log-format <format>", "pretty (default on a terminal) or json (default otherwise)")
    .option("--rate-limit <per_second[,burst]>", "requests per API token or account (default 50,200; off: none)")
    .option("--worker-rate-limit <per_second[,burst]>", "requests per worker token (default 2000,4000; off: none)")
    .option(
      "--anonymous-rate-limit <per_second[,burst]>",
      "requests per client address without a valid credential (default 20,200; off: none)",
    )
    .action(run((ctx, opts) => traced("kiln-server", () => serverCommand(ctx, opts as ServerOptions))));
  program
    .command("worker")
    .description("execute runs: remotely (--server URL --token T) or in-process (--db URL)")
    .option("--db <url>", "run in-process on this store instead of talking to a server")
    .option("--concurrency <n>", "runs executed at once")
    .option("--name <name>", "worker name")
    .option("--health-port <port>", "serve /healthz, /readyz and /metrics on this port (0: any free port)")
    .option("--log-format <format>", "pretty (default on a terminal) or json (default otherwise)")
    .option(ADAPTER_FLAG, ADAPTER_HELP)
    .addOption(sandboxOption())
    .action(run((ctx, opts) => traced("kiln-worker", () => workerCommand(ctx, opts as WorkerOptions))));
}
