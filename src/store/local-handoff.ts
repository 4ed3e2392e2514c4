import type { HandoffCandidate, HandoffOffer } from "../engine/handoff.ts";

/** The offers of the idle workers of one store (in this process only). */
export class LocalHandoff {
  readonly #offers = new Set<HandoffOffer>();

  /** Registers an offer until the returned function is called. */
  offer(offer: HandoffOffer): () => void {
    this.#offers.add(offer);
    return () => {
      this.#offers.delete(offer);
    };
  }

  /** Whether any worker is offering (a cheap check before building a fused start). */
  get open(): boolean {
    return this.#offers.size > 0;
  }

  /** Reserves a slot of the first offer that can run `run`, or undefined. */
  reserve(run: HandoffCandidate): HandoffOffer | undefined {
    for (const offer of this.#offers) {
      if (offer.namespace !== run.namespace || !offer.queues.includes(run.queue)) continue;
      if (offer.names !== undefined && !offer.names.includes(run.name)) continue;
      if (offer.reserve()) return offer;
    }
    return undefined;
  }
}
