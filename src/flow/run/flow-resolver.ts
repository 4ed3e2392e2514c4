import type { Run } from "../../engine/run.ts";
import type { FlowRuntime } from "./flow-runtime.ts";
import { DeployedNames } from "../../runtimes/deployed-names.ts";
import type { DeployedWorkflow, DeployedWorkflowSource } from "../../runtimes/deployed-workflows.ts";
import { WorkflowActivation } from "../../workflow/workflow-activation.ts";
import type { WorkflowFunction } from "../../workflow/workflow-context.ts";
import type { ActivateWorkflow, WorkflowResolver } from "../../workflow/workflow-resolver.ts";

/** Options of a FlowWorkflowResolver. */
export interface FlowWorkflowResolverOptions {
  readonly source: DeployedWorkflowSource;
  readonly runtime: FlowRuntime;
  /** How long the list of deployed flow names is cached. Default 1000 ms. */
  readonly cacheMs?: number;
  /** The worker's shared cache of deployed names; default: one of its own over `source`. */
  readonly names?: DeployedNames;
}

/**
 * Runs deployed YAML flows in the worker process: the flow interpreter is a workflow function
 * over the same step primitive, compiled once per content hash, so no host process is needed.
 */
export class FlowWorkflowResolver implements WorkflowResolver {
  readonly #source: DeployedWorkflowSource;
  readonly #runtime: FlowRuntime;
  readonly #names: DeployedNames;
  readonly #compiled = new Map<string, WorkflowFunction>();

  constructor(options: Readonly<FlowWorkflowResolverOptions>) {
    this.#source = options.source;
    this.#runtime = options.runtime;
    this.#names = options.names ?? new DeployedNames(options.source, options.cacheMs);
  }

  /** Forgets cached names (after a deploy). */
  invalidate(): void {
    this.#names.invalidate();
  }

  async listNames(p: Readonly<{ namespace: string }>): Promise<readonly string[]> {
    return (await this.#names.list(p)).filter((w) => w.runtime === "flow").map((w) => w.name);
  }

  async resolve(run: Run): Promise<ActivateWorkflow | undefined> {
    if (run.type !== "workflow") return undefined;
    const deployed = await this.#source.getWorkflow({
      namespace: run.namespace,
      name: run.name,
      ...(run.version === null ? {} : { version: run.version }),
    });
    if (deployed?.runtime !== "flow") return undefined;
    const fn = this.#compile(deployed);
    return (claimed, deps) => new WorkflowActivation(fn, claimed, deps).run();
  }

  #compile(deployed: DeployedWorkflow): WorkflowFunction {
    let fn = this.#compiled.get(deployed.contentHash);
    if (!fn) {
      fn = this.#runtime.compile(deployed.source, deployed.name);
      this.#compiled.set(deployed.contentHash, fn);
    }
    return fn;
  }
}
