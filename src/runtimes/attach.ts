import { KilnError } from "../errors.ts";
import type { WorkflowResolvers } from "../workflow/workflow-resolver.ts";
import type { ComputeAdapter } from "./compute-adapter.ts";
import { execAdapter } from "./compute-adapter.ts";
import { type DeployedWorkflowSource, DeployedWorkflowResolver } from "./deployed-workflows.ts";
import { dockerAdapter } from "./docker-adapter.ts";
import { HostPool, type HostPoolOptions } from "./host-pool.ts";
import { HostRunner } from "./host-runner.ts";

/** Options of attachDeployedWorkflows. */
export interface AttachDeployedOptions {
  /** Where deployed code comes from: `storeWorkflowSource(store)` or `apiWorkflowSource(get)`. */
  readonly source: DeployedWorkflowSource;
  /** An existing pool, or options for a new one (size, python, directory, limits, adapter). */
  readonly pool?: HostPool | HostPoolOptions;
  /** How long deployed names and latest versions are cached. Default 1000 ms. */
  readonly cacheMs?: number;
  /** Host crashes tolerated per run before HOST_CRASHED. Default 3. */
  readonly maxCrashes?: number;
  /** The worker's clock is manual (tests). */
  readonly manualClock?: boolean;
}

/** What attachDeployedWorkflows set up; `close()` stops the hosts (after the worker stopped). */
export interface DeployedWorkflows {
  readonly pool: HostPool;
  readonly resolver: DeployedWorkflowResolver;
  close(): Promise<void>;
}

/**
 * Lets a worker run deployed JS/TS/Python workflows in host processes: adds the resolver to
 * its registry (claims then include deployed names). One call in `kiln dev` and `kiln worker`:
 *
 * ```ts
 * const deployed = attachDeployedWorkflows(worker.registry, { source: storeWorkflowSource(store) });
 * // after a deploy: deployed.resolver.invalidate();  on shutdown: await worker.stop(); await deployed.close();
 * ```
 */
export function attachDeployedWorkflows(
  registry: WorkflowResolvers,
  options: Readonly<AttachDeployedOptions>,
): DeployedWorkflows {
  const ownsPool = !(options.pool instanceof HostPool);
  const pool = options.pool instanceof HostPool ? options.pool : new HostPool(options.pool ?? {});
  const runner = new HostRunner(pool, {
    ...(options.maxCrashes === undefined ? {} : { maxCrashes: options.maxCrashes }),
    ...(options.manualClock === undefined ? {} : { manualClock: options.manualClock }),
  });
  const resolver = new DeployedWorkflowResolver({
    source: options.source,
    runner,
    ...(options.cacheMs === undefined ? {} : { cacheMs: options.cacheMs }),
  });
  registry.addResolver(resolver);
  return {
    pool,
    resolver,
    close: async () => {
      if (ownsPool) await pool.close();
    },
  };
}

/**
 * The compute adapter a config names: `exec` (default) or `docker`. Docker falls back to exec,
 * with a warning through `warn`, when no engine answers `docker info`.
 */
export async function computeAdapterFor(
  name: string | undefined,
  options: { python?: string; warn?: (message: string) => void } = {},
): Promise<ComputeAdapter> {
  const exec = execAdapter(options.python === undefined ? {} : { python: options.python });
  if (name === undefined || name === "exec") return exec;
  if (name === "docker") {
    const docker = dockerAdapter();
    if (await docker.available()) return docker;
    options.warn?.("The docker compute adapter was asked for but `docker info` does not answer; using exec");
    return exec;
  }
  throw new KilnError("INVALID_CONFIG", `Expected the workflow host adapter to be "exec" or "docker", got "${name}"`);
}
