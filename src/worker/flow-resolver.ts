import type { Run } from "../engine/run.ts";
import type { FlowRuntime } from "../flow/run/flow-runtime.ts";
import type { DeployedWorkflow, DeployedWorkflowSource } from "../runtimes/deployed-workflows.ts";
import type { ActivateWorkflow, WorkflowResolver } from "./registry.ts";
import { WorkflowActivation } from "./workflow-activation.ts";
import type { WorkflowFunction } from "./workflow-context.ts";

/** Options of a FlowWorkflowResolver. */
export interface FlowWorkflowResolverOptions {
  readonly source: DeployedWorkflowSource;
  readonly runtime: FlowRuntime;
  /** How long the list of deployed flow names is cached. Default 1000 ms. */
  readonly cacheMs?: number;
}

/**
 * Runs deployed YAML flows in the worker process: the flow interpreter is a workflow function
 * over the same step primitive, compiled once per content hash, so no host process is needed.
 */
export class FlowWorkflowResolver implements WorkflowResolver {
  readonly #source: DeployedWorkflowSource;
  readonly #runtime: FlowRuntime;
  readonly #cacheMs: number;
  readonly #names = new Map<string, { at: number; names: Promise<readonly string[]> }>();
  readonly #compiled = new Map<string, WorkflowFunction>();

  constructor(options: Readonly<FlowWorkflowResolverOptions>) {
    this.#source = options.source;
    this.#runtime = options.runtime;
    this.#cacheMs = options.cacheMs ?? 1000;
  }

  /** Forgets cached names (after a deploy). */
  invalidate(): void {
    this.#names.clear();
  }

  async listNames(p: Readonly<{ namespace: string }>): Promise<readonly string[]> {
    const cached = this.#names.get(p.namespace);
    if (cached && performance.now() - cached.at < this.#cacheMs) return await cached.names;
    const names = this.#source
      .listDeployed(p)
      .then((list) => list.filter((w) => w.runtime === "flow").map((w) => w.name));
    this.#names.set(p.namespace, { at: performance.now(), names });
    names.catch(() => this.#names.delete(p.namespace));
    return await names;
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
