import { existsSync, readdirSync, readFileSync, statSync, watch } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../../config/load-config.ts";
import type { ResolvedConfig } from "../../config/resolved-config.ts";
import { KilnError, serializeError } from "../../errors.ts";
import { apiWorkflowSource, storeWorkflowSource } from "../../runtimes/deployed-workflows.ts";
import { createSecretResolver } from "../../secrets/secret-resolver.ts";
import { validateDeployment } from "../../server/deploy-validation.ts";
import { createLogger } from "../../server/logger.ts";
import { localEngineClient } from "../../server/local-engine-client.ts";
import { startServer } from "../../server/start-server.ts";
import { openStore } from "../../store/open-store.ts";
import type { Store } from "../../store/store.ts";
import { HttpEngineClient } from "../../worker/http-engine-client.ts";
import type { WorkerLogger } from "../../worker/worker.ts";
import type { CliContext } from "../context.ts";
import { registerCommands } from "../command-registry.ts";
import { takeOverWorkerInstance, workerInstanceFile } from "../../worker/worker-instance.ts";
import { DEFAULT_DATA_DIR } from "../target.ts";
import { claimDevDataDir, type DevClaim } from "../dev-instance.ts";
import { type ConfiguredWorker, createConfiguredWorker } from "../worker-setup.ts";

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

/** Loads the config beside the working directory (optional for dev/worker); every error at once. */
function readConfig(ctx: CliContext): ResolvedConfig {
  return loadConfig({ optional: true, ...(ctx.options.config ? { file: ctx.options.config } : {}) });
}

/** Deploys every workflow file under `dir` (identical source is a no-op). */
async function deployDirectory(store: Store, namespace: string, dir: string, logger: Logger): Promise<number> {
  if (!existsSync(dir)) return 0;
  let deployed = 0;
  for (const file of readdirSync(dir).sort()) {
    const runtime = WORKFLOW_EXTENSIONS[extname(file).toLowerCase()];
    if (!runtime) continue;
    const name = basename(file, extname(file));
    try {
      const source = readFileSync(join(dir, file), "utf8");
      await validateDeployment({ name, runtime, source, filename: file });
      const result = await store.deployWorkflow({ namespace, name, runtime, source });
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
  readonly port: string;
  readonly host: string;
  readonly db?: string;
  readonly auth?: boolean;
  readonly workflows: string;
  readonly concurrency?: string;
  readonly allowedHost?: readonly string[];
  readonly maxStreams?: string;
}

/** `kiln dev`: server + worker + deployments in one process on `<data>/kiln.db`. */
async function devCommand(ctx: CliContext, options: DevOptions): Promise<number> {
  const logger = createLogger();
  const dataDir = resolve(ctx.options.data ?? DEFAULT_DATA_DIR);
  const config = readConfig(ctx);
  const namespace = ctx.options.namespace ?? config.server.namespace;
  const db = options.db ?? join(dataDir, "kiln.db");
  const claim = claimDevDataDir(dataDir);
  try {
    return await serveDev(ctx, options, { dataDir, config, namespace, db, logger }, claim);
  } finally {
    claim.release();
  }
}

/** The body of `kiln dev` once it holds its data directory. */
async function serveDev(
  ctx: CliContext,
  options: DevOptions,
  p: Readonly<{ dataDir: string; config: ResolvedConfig; namespace: string; db: string; logger: Logger }>,
  claim: DevClaim,
): Promise<number> {
  const { dataDir, namespace, db, logger } = p;
  let config = p.config;
  const store = await openStore(db);
  const auth = options.auth ? "required" : "loopback-open";
  const server = await startServer({
    store,
    host: options.host,
    port: Number(options.port),
    dataDir,
    auth,
    logger,
    allowedHosts: options.allowedHost ?? [],
    maxStreams: streamCaps(options.maxStreams),
  });
  const vault = server.app.deps.vault;
  const secrets = createSecretResolver({
    vault: (names) => vault.getValues({ namespace, names }),
    cwd: config.baseDir,
  });
  const workflowsDir = resolve(config.baseDir, options.workflows);
  await deployDirectory(store, namespace, workflowsDir, logger);
  const setup: ConfiguredWorker = await createConfiguredWorker({
    // Through the server's local client, so its metrics and live feeds see the worker's writes.
    client: localEngineClient(store, server.app),
    namespace,
    config,
    deployments: storeWorkflowSource(store),
    secrets,
    logger: workerLogger(logger),
    ...(options.concurrency === undefined ? {} : { concurrency: Number(options.concurrency) }),
  });
  // Only the first registration may release the leases of a previous, gone process.
  let releaseLeases = takeOverWorkerInstance(
    workerInstanceFile(dataDir, { server: `local:${db}`, namespace, name: setup.worker.name }),
  ).previousGone;
  const registerWorker = () => {
    const release = releaseLeases;
    releaseLeases = false;
    return store.registerWorker({
      ...(release ? { releaseLeases: true } : {}),
      namespace,
      name: setup.worker.name,
      version: config.worker.version ?? "dev",
      queues: [...config.worker.queues],
      kinds: setup.worker.registry.tasks().map((t) => ({ kind: t.kind, settings: t.settings })),
    });
  };
  await registerWorker();
  const beat = setInterval(
    () => void store.heartbeatWorker({ namespace, name: setup.worker.name }).catch(() => {}),
    10_000,
  );
  beat.unref();
  await setup.worker.start();

  const reload = () => {
    try {
      config = readConfig(ctx);
      setup.reload(config);
      void registerWorker();
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
    void deployDirectory(store, namespace, workflowsDir, logger).then((n) => {
      if (n > 0) setup.invalidate();
    });
  });

  claim.recordUrl(server.url);
  ctx.output.out(`Kiln ready at ${server.url}`);
  if (server.adminTokenPath) ctx.output.out(`Admin token: ${server.adminTokenPath}`);
  const signal = await untilSignal();
  logger.info({ signal }, "Shutting down");
  stopWatchingConfig();
  stopWatchingWorkflows();
  clearInterval(beat);
  await setup.close();
  await store.unregisterWorker({ namespace, name: setup.worker.name }).catch(() => {});
  await server.close();
  await store.close();
  return 0;
}

interface ServerOptions {
  readonly port: string;
  readonly host: string;
  readonly db?: string;
  readonly allowedHost?: readonly string[];
  readonly maxStreams?: string;
}

/** `kiln server`: the API, timers and housekeeping on SQLite or PostgreSQL; no worker. */
async function serverCommand(ctx: CliContext, options: ServerOptions): Promise<number> {
  const logger = createLogger();
  const dataDir = resolve(ctx.options.data ?? DEFAULT_DATA_DIR);
  const config = readConfig(ctx);
  const db = options.db ?? config.server.database ?? join(dataDir, "kiln.db");
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
  });
  ctx.output.out(`Kiln ready at ${server.url}`);
  if (server.adminTokenPath) ctx.output.out(`Admin token: ${server.adminTokenPath}`);
  const signal = await untilSignal();
  logger.info({ signal }, "Shutting down");
  await server.close();
  await store.close();
  return 0;
}

interface WorkerOptions {
  readonly db?: string;
  readonly concurrency?: string;
  readonly name?: string;
}

/** `kiln worker`: executes runs, remotely over HTTP (`--server`) or in-process on `--db`. */
async function workerCommand(ctx: CliContext, options: WorkerOptions): Promise<number> {
  const logger = createLogger();
  const config = readConfig(ctx);
  const common = {
    config,
    logger: workerLogger(logger),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.concurrency === undefined ? {} : { concurrency: Number(options.concurrency) }),
  };
  let setup: ConfiguredWorker;
  let cleanup: () => Promise<void>;
  if (options.db) {
    const store = await openStore(options.db);
    const namespace = ctx.options.namespace ?? config.server.namespace;
    setup = await createConfiguredWorker({
      ...common,
      client: store,
      namespace,
      deployments: storeWorkflowSource(store),
      secrets: createSecretResolver({ cwd: config.baseDir }),
      sweep: true,
    });
    cleanup = () => store.close();
  } else {
    const target = ctx.api().target;
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
      secrets: createSecretResolver({ vault: (names) => client.getSecrets(names), cwd: config.baseDir }),
    });
    const remote = setup;
    invalidateDeployments = () => remote.invalidate();
    const instance = takeOverWorkerInstance(
      workerInstanceFile(resolve(ctx.options.data ?? DEFAULT_DATA_DIR), {
        server: target.server,
        namespace: target.namespace,
        name: setup.worker.name,
      }),
    );
    await client.register({
      ...(instance.previousGone ? { releaseLeases: true } : {}),
      name: setup.worker.name,
      version: config.worker.version ?? "0.1.0",
      queues: [...config.worker.queues],
      kinds: setup.worker.registry.tasks().map((t) => ({ kind: t.kind, settings: t.settings })),
    });
    cleanup = async () => {
      await client.unregister().catch(() => {});
      client.close();
    };
  }
  await setup.worker.start();
  ctx.output.out(`Kiln worker ${setup.worker.name} ready (${setup.worker.registry.tasks().length} task kinds)`);
  const signal = await untilSignal();
  logger.info({ signal }, "Draining and shutting down");
  await setup.close();
  await cleanup();
  return 0;
}

registerCommands((program: Command, run) => {
  program
    .command("dev")
    .alias("serve")
    .description("run server + worker on an embedded SQLite file (.kiln/kiln.db); the local default (alias: serve)")
    .option("--port <port>", "port", "7700")
    .option("--host <host>", "address to bind (loopback by default)", "127.0.0.1")
    .option("--db <url>", "store (default <data>/kiln.db)")
    .option("--auth", "require tokens even on loopback")
    .option("--allowed-host <name...>", "also answer requests whose Host is this name (repeatable)")
    .option("--max-streams <n[,total]>", "open live streams allowed per token (default 32) and in all (1000)")
    .option("--workflows <dir>", "directory of workflow files to deploy and watch", "workflows")
    .option("--concurrency <n>", "runs executed at once")
    .action(run((ctx, opts) => devCommand(ctx, opts as DevOptions)));
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
    .action(run((ctx, opts) => serverCommand(ctx, opts as ServerOptions)));
  program
    .command("worker")
    .description("execute runs: remotely (--server URL --token T) or in-process (--db URL)")
    .option("--db <url>", "run in-process on this store instead of talking to a server")
    .option("--concurrency <n>", "runs executed at once")
    .option("--name <name>", "worker name")
    .action(run((ctx, opts) => workerCommand(ctx, opts as WorkerOptions)));
});
