import type { ControlStore } from "../store/control-store.ts";

/**
 * The namespace of each run a worker writes to, so that a worker token can only touch runs of its
 * namespace. A run never changes namespace, so entries never go stale; runs claimed through this
 * server are remembered at claim time, others are looked up once. Bounded (oldest entries go).
 */
export class RunNamespaces {
  readonly #store: Pick<ControlStore, "getRunNamespaces">;
  readonly #max: number;
  readonly #known = new Map<string, string>();

  constructor(store: Pick<ControlStore, "getRunNamespaces">, max = 200_000) {
    this.#store = store;
    this.#max = max;
  }

  /** Records the namespace of runs (claimed, or started, through this server). */
  remember(namespace: string, ids: Iterable<string>): void {
    for (const id of ids) {
      if (this.#known.size >= this.#max) {
        const oldest = this.#known.keys().next().value;
        if (oldest !== undefined) this.#known.delete(oldest);
      }
      this.#known.set(id, namespace);
    }
  }

  /** The ids among `ids` that are not runs of `namespace` (unknown runs included). */
  async outside(namespace: string, ids: Iterable<string>): Promise<Set<string>> {
    const unknown: string[] = [];
    const foreign = new Set<string>();
    for (const id of new Set(ids)) {
      const ns = this.#known.get(id);
      if (ns === undefined) unknown.push(id);
      else if (ns !== namespace) foreign.add(id);
    }
    if (unknown.length > 0) {
      const found = await this.#store.getRunNamespaces({ ids: unknown });
      for (const id of unknown) {
        const ns = found.get(id);
        if (ns === undefined) {
          foreign.add(id);
          continue;
        }
        this.remember(ns, [id]);
        if (ns !== namespace) foreign.add(id);
      }
    }
    return foreign;
  }
}
