import { join } from "node:path";
import type { ResolvedConfig } from "../config/resolved-config.ts";
import type { SandboxProfile } from "../config/sandbox-schema.ts";
import { detectCgroups } from "../exec/sandbox/cgroups.ts";
import { createFlowDeps } from "../flow/run/flow-deps.ts";
import { lazyVectorStore } from "../store/open-vector-store.ts";
import { resolveFlowSettings } from "./flow-settings.ts";
import { flowRuntime } from "../flow/run/flow-runtime.ts";
import type { ComputeAdapterName } from "../config/resolve-compute.ts";
import { attachComputeAdapters } from "../runtimes/attach-compute.ts";
import type { DeployedWorkflowSource } from "../runtimes/deployed-workflows.ts";
import type { FlowServices } from "../flow/nodes/node-api.ts";
import { withDefaultSecretProvider } from "../secrets/default-provider.ts";
import type { SecretResolver } from "../secrets/secret-resolver.ts";
import type { EngineClient } from "../worker/engine-client.ts";
import { FlowWorkflowResolver } from "../worker/flow-resolver.ts";
import { registerScriptKinds } from "../worker/script-kinds.ts";
import { scriptDependencies } from "../exec/prepare-script.ts";
import { Worker, type WorkerLogger } from "../worker/worker.ts";

/** What a configured worker needs. */
export interface WorkerSetupParams {
  readonly client: EngineClient;
  readonly namespace: string;
  readonly config: ResolvedConfig;
  readonly deployments: DeployedWorkflowSource;
  readonly secrets: SecretResolver;
  readonly name?: string;
  readonly concurrency?: number;
  readonly logger?: WorkerLogger;
  /** Run store housekeeping in this worker (in-process `kiln worker --db` without a server). */
  readonly sweep?: boolean;
  /** Python interpreter of host processes. */
  readonly python?: string;
  /**
   * The worker's data directory: script environments and fetched sources are cached in its
   * `cache/`, and it (master key, tokens) is hidden from every sandboxed script.
   */
  readonly dataDir?: string;
  /** The store URL of a worker that has Kiln's database: the vector nodes keep their vectors there. */
  readonly database?: string;
  /** `--sandbox PROFILE`: the profile of kinds that set none, over the config's worker default. */
  readonly sandboxProfile?: SandboxProfile;
  /** Compute adapters (`--adapter`); default: the config's worker.adapters. */
  readonly adapters?: readonly ComputeAdapterName[];
  /** Starts runs for flow nodes that do (email.receive's trigger form); absent on remote workers. */
  readonly startRun?: FlowServices["startRun"];
}

/** A worker with the config's script kinds, deployed JS/TS/Python workflows and flows. */
export interface ConfiguredWorker {
  readonly worker: Worker;
  /** Re-registers the script kinds of a new config (hot reload); kinds gone from it are removed. */
  reload(config: ResolvedConfig): void;
  /** Forget cached deployments (after a deploy). */
  invalidate(): void;
  /** Stops the worker, its host processes and its sandbox. */
  close(): Promise<void>;
}

/** Assembles a worker from config the way `kiln dev` and `kiln worker` run it. */
export async function createConfiguredWorker(params: WorkerSetupParams): Promise<ConfiguredWorker> {
  const p = { ...params, secrets: withDefaultSecretProvider(params.secrets, params.config.secrets) };
  const worker = new Worker({
    client: p.client,
    namespace: p.namespace,
    queues: p.config.worker.queues,
    name: p.name ?? p.config.worker.name,
    concurrency: p.concurrency ?? p.config.worker.concurrency,
    // heartbeat_interval_seconds is honoured: the lease outlives two missed heartbeats (and is at
    // least the usual 30 s), so a slow interval delays recovery after a crash but never loses runs.
    heartbeatIntervalMs: p.config.worker.heartbeatIntervalMs,
    leaseMs: Math.max(30_000, 3 * p.config.worker.heartbeatIntervalMs),
    drainTimeoutMs: p.config.worker.shutdownTimeoutMs,
    sweep: p.sweep ?? false,
    ...(p.logger === undefined ? {} : { logger: p.logger }),
  });
  let kinds = new Set<string>();
  const register = (config: ResolvedConfig) => {
    const next = new Set(config.tasks.map((t) => t.kind));
    // Registered first: a kind refused at load (its sandbox) throws before anything changes.
    registerScriptKinds(worker.registry, config.tasks, {
      baseDir: config.baseDir,
      dependencies: scriptDependencies(config.worker.dependencies, p.dataDir ?? join(config.baseDir, ".kiln")),
      resolveSecret: (name) => p.secrets.resolveSecret(name),
      unsealInput: (input) => p.secrets.unsealInput(input),
      sandbox:
        p.sandboxProfile === undefined
          ? config.worker.sandbox
          : { ...config.worker.sandbox, profile: p.sandboxProfile },
      ...(p.dataDir === undefined ? {} : { hiddenPaths: [p.dataDir] }),
    });
    for (const gone of kinds) if (!next.has(gone)) worker.registry.removeTask(gone);
    kinds = next;
  };
  register(p.config);
  // What the limits of sandboxed kinds can use here, said once at start.
  p.logger?.info(`sandbox: ${detectCgroups().summary}`, { cgroups: detectCgroups().version });

  const compute = await attachComputeAdapters(worker, {
    adapters: p.adapters ?? p.config.worker.adapters,
    directory: p.config.baseDir,
    deployments: p.deployments,
    settings: {
      docker: p.config.worker.docker,
      cloudflare: p.config.worker.cloudflare,
      resolveSecret: (name) => p.secrets.resolveSecret(name),
      ...(p.python === undefined ? {} : { python: p.python }),
    },
    ...(p.logger === undefined ? {} : { logger: p.logger }),
  });
  const settings = await resolveFlowSettings(p.config, (name) => p.secrets.resolveSecret(name));
  const vectors = p.database === undefined ? undefined : lazyVectorStore(p.database);
  const flowDeps = await createFlowDeps({
    plugins: p.config.plugins,
    pluginBaseDir: p.config.baseDir,
    resolveSecret: (name: string) => p.secrets.resolveSecret(name),
    env: settings.env,
    services: {
      ...settings.services,
      ...(vectors === undefined ? {} : { vectors }),
      ...(p.startRun === undefined ? {} : { startRun: p.startRun }),
    },
  });
  const flows = new FlowWorkflowResolver({ source: p.deployments, runtime: flowRuntime(flowDeps) });
  worker.registry.addResolver(flows);

  return {
    worker,
    reload: register,
    invalidate: () => {
      compute.invalidate();
      flows.invalidate();
    },
    close: async () => {
      await worker.stop();
      await vectors?.close();
      await compute.close();
      flowDeps.dispose();
    },
  };
}
