import type { ResolvedConfig } from "../config/resolved-config.ts";
import { createFlowDeps } from "../flow/flow-deps.ts";
import { resolveFlowSettings } from "./flow-settings.ts";
import { flowRuntime } from "../flow/flow-runtime.ts";
import type { FlowServices } from "../flow/nodes/node-api.ts";
import { HostPool } from "../runtimes/host-pool.ts";
import { HostRunner } from "../runtimes/host-runner.ts";
import { DeployedWorkflowResolver, type DeployedWorkflowSource } from "../runtimes/deployed-workflows.ts";
import { withDefaultSecretProvider } from "../secrets/default-provider.ts";
import type { SecretResolver } from "../secrets/secret-resolver.ts";
import type { EngineClient } from "../worker/engine-client.ts";
import { FlowWorkflowResolver } from "../worker/flow-resolver.ts";
import { registerScriptKinds } from "../worker/script-kinds.ts";
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
    for (const gone of kinds) if (!next.has(gone)) worker.registry.removeTask(gone);
    registerScriptKinds(worker.registry, config.tasks, {
      baseDir: config.baseDir,
      resolveSecret: (name) => p.secrets.resolveSecret(name),
    });
    kinds = next;
  };
  register(p.config);

  const pool = new HostPool({ directory: p.config.baseDir, ...(p.python === undefined ? {} : { python: p.python }) });
  const hosts = new DeployedWorkflowResolver({ source: p.deployments, runner: new HostRunner(pool) });
  worker.registry.addResolver(hosts);
  const settings = await resolveFlowSettings(p.config, (name) => p.secrets.resolveSecret(name));
  const flowDeps = await createFlowDeps({
    plugins: p.config.plugins,
    pluginBaseDir: p.config.baseDir,
    resolveSecret: (name: string) => p.secrets.resolveSecret(name),
    env: settings.env,
    services: { ...settings.services, ...(p.startRun === undefined ? {} : { startRun: p.startRun }) },
  });
  const flows = new FlowWorkflowResolver({ source: p.deployments, runtime: flowRuntime(flowDeps) });
  worker.registry.addResolver(flows);

  return {
    worker,
    reload: register,
    invalidate: () => {
      hosts.invalidate();
      flows.invalidate();
    },
    close: async () => {
      await worker.stop();
      await pool.close();
      flowDeps.dispose();
    },
  };
}
