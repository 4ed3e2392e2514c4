import type { ComputeAdapterName } from "../config/resolve-compute.ts";
import type { WorkflowResolvers } from "../workflow/workflow-resolver.ts";
import { DeployedNames } from "./deployed-names.ts";
import { DeployedWorkflowResolver, type DeployedWorkflowSource } from "./deployed-workflows.ts";
import { HostPool } from "./host-pool.ts";
import { HostRunner } from "./host-runner.ts";
import { buildWorkerAdapter, type WorkerAdapter, type WorkerAdapterSettings } from "./worker-adapters.ts";

/** Params of attachComputeAdapters. */
export interface AttachComputeParams {
  /** The worker's adapters, in order: the first runs workflows deployed without an adapter. */
  readonly adapters: readonly ComputeAdapterName[];
  /** Where deployed code resolves its imports (the config's directory). */
  readonly directory: string;
  readonly deployments: DeployedWorkflowSource;
  /** The worker's cache of deployed names, shared with its other resolvers (flows); default: a new one. */
  readonly names?: DeployedNames;
  readonly settings: WorkerAdapterSettings;
  /** Where the adapters in use are announced (the worker's logger). */
  readonly logger?: { info(message: string, data?: Record<string, unknown>): void };
}

/** The adapters a worker runs deployed workflows with. */
export interface AttachedCompute {
  readonly adapters: readonly ComputeAdapterName[];
  /** Forget cached deployments (after a deploy). */
  invalidate(): void;
  /** Stops the hosts and releases the adapters (after the worker stopped). */
  close(): Promise<void>;
}

/**
 * Gives a worker one host pool and one deployed-workflow resolver per compute adapter. Which
 * adapter runs a version: the one it was deployed for (`kiln deploy -a`, or the config's
 * `workflows.<name>.adapter`), and only on workers that have it; a version deployed for any
 * adapter runs on the first adapter of the worker that claims it. Says at start which it has.
 */
export async function attachComputeAdapters(
  registry: WorkflowResolvers,
  p: Readonly<AttachComputeParams>,
): Promise<AttachedCompute> {
  const built: { name: ComputeAdapterName; adapter: WorkerAdapter; pool: HostPool }[] = [];
  const resolvers: DeployedWorkflowResolver[] = [];
  try {
    for (const name of p.adapters) {
      const adapter = await buildWorkerAdapter(name, p.settings);
      // The cloudflare "hosts" are HTTP bridges that use no CPU here: one takes many activations.
      const pool = new HostPool({
        directory: p.directory,
        adapter: adapter.adapter,
        ...(name === "cloudflare" ? { size: 1 } : {}),
      });
      built.push({ name, adapter, pool });
    }
  } catch (error) {
    await Promise.all(built.map((b) => b.adapter.close()));
    throw error;
  }
  // One read of the deployed names per namespace serves the resolvers of every adapter.
  const names = p.names ?? new DeployedNames(p.deployments);
  const runtimesOf = (name: ComputeAdapterName) => (name === "cloudflare" ? ["node"] : ["node", "python"]);
  for (const b of built) {
    const runtimes = runtimesOf(b.name);
    const resolver = new DeployedWorkflowResolver({
      source: p.deployments,
      names,
      runner: new HostRunner(b.pool),
      runtimes,
      // Each runtime's versions deployed for any adapter go to the first adapter that runs it.
      unpinnedRuntimes: runtimes.filter((r) => built.find((o) => runtimesOf(o.name).includes(r)) === b),
      otherAdapters: built.filter((o) => o !== b).map((o) => o.name),
    });
    registry.addResolver(resolver);
    resolvers.push(resolver);
  }
  const firstFor = (runtime: string) => built.find((b) => runtimesOf(b.name).includes(runtime))?.name ?? "none";
  const unpinned =
    firstFor("node") === firstFor("python")
      ? `run on ${firstFor("node")}`
      : `run on ${firstFor("node")} (JavaScript) and ${firstFor("python")} (Python)`;
  p.logger?.info(
    `Compute adapters: ${built.map((b) => `${b.name} (${b.adapter.where})`).join(", ")}; workflows deployed without an adapter ${unpinned}`,
    { adapters: built.map((b) => b.name) },
  );
  return {
    adapters: built.map((b) => b.name),
    invalidate: () => {
      for (const r of resolvers) r.invalidate();
    },
    close: async () => {
      for (const b of built) {
        await b.pool.close();
        await b.adapter.close();
      }
    },
  };
}
