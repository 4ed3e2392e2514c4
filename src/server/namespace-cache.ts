import type { ControlStore } from "../store/control-store.ts";

/**
 * Which namespaces exist, cached: a namespace is never deleted, so a known one stays known; an
 * unknown one is asked again after `missTtlMs` (another server may have created it).
 */
export class NamespaceCache {
  readonly #store: Pick<ControlStore, "getNamespace">;
  readonly #missTtlMs: number;
  readonly #clock: () => number;
  readonly #known = new Set<string>();
  readonly #misses = new Map<string, number>();

  constructor(store: Pick<ControlStore, "getNamespace">, options: { missTtlMs?: number; clock?: () => number } = {}) {
    this.#store = store;
    this.#missTtlMs = options.missTtlMs ?? 2000;
    this.#clock = options.clock ?? Date.now;
  }

  async exists(name: string): Promise<boolean> {
    if (this.#known.has(name)) return true;
    const missedAt = this.#misses.get(name);
    if (missedAt !== undefined && this.#clock() - missedAt < this.#missTtlMs) return false;
    const found = await this.#store.getNamespace({ name });
    if (found) {
      this.#known.add(name);
      this.#misses.delete(name);
      return true;
    }
    if (this.#misses.size > 10_000) this.#misses.clear();
    this.#misses.set(name, this.#clock());
    return false;
  }

  /** Records a namespace this server just created. */
  add(name: string): void {
    this.#known.add(name);
    this.#misses.delete(name);
  }
}
