import type { DeployedWorkflowName, DeployedWorkflowSource } from "./deployed-workflows.ts";

/**
 * The workflows deployed in each namespace, read from the source at most once per `cacheMs`.
 * One instance serves every resolver of a worker (the host resolver of each compute adapter and
 * the flow resolver), so a claim round asks the server once, and a deploy is seen by all of them
 * after one `invalidate()`.
 */
export class DeployedNames {
  readonly #source: Pick<DeployedWorkflowSource, "listDeployed">;
  readonly #cacheMs: number;
  readonly #lists = new Map<string, { at: number; list: Promise<readonly DeployedWorkflowName[]> }>();

  constructor(source: Pick<DeployedWorkflowSource, "listDeployed">, cacheMs = 1000) {
    this.#source = source;
    this.#cacheMs = cacheMs;
  }

  /** The deployed workflows of a namespace (cached; a failed read is not). */
  async list(p: Readonly<{ namespace: string }>): Promise<readonly DeployedWorkflowName[]> {
    const cached = this.#lists.get(p.namespace);
    if (cached && performance.now() - cached.at < this.#cacheMs) return await cached.list;
    const list = this.#source.listDeployed({ namespace: p.namespace });
    const entry = { at: performance.now(), list };
    this.#lists.set(p.namespace, entry);
    // Only this read is forgotten: a newer one started meanwhile stays.
    list.catch(() => {
      if (this.#lists.get(p.namespace) === entry) this.#lists.delete(p.namespace);
    });
    return await list;
  }

  /** Forgets every cached list (after a deploy, to see it at once). */
  invalidate(): void {
    this.#lists.clear();
  }
}
