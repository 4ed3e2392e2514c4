import { deserializeError, KilnError, type SerializedError } from "../../errors.ts";
import type { EngineClient } from "../../engine/engine-client.ts";
import type { HostCallMethod } from "../protocol.ts";

/** Sends one `call` message and resolves with the worker's reply value. */
export type CallSender = (method: HostCallMethod, params: unknown) => Promise<unknown>;

/**
 * The engine client an activation sees inside a host process: each write verb becomes a `call`
 * to the worker, which performs it fenced by the run's lease. Claims, heartbeats, finishes and
 * housekeeping stay with the worker, so calling them here is a programming error.
 */
export function createEngineProxy(send: CallSender): EngineClient {
  const notHere = (verb: string) => () =>
    Promise.reject(new KilnError("INTERNAL", `${verb} is performed by the worker, not inside a workflow host`));
  return {
    saveSteps: (p) => send("saveSteps", p) as ReturnType<EngineClient["saveSteps"]>,
    startChildRun: (p) => send("startChildRun", p) as ReturnType<EngineClient["startChildRun"]>,
    awaitEvent: (p) => send("awaitEvent", p) as ReturnType<EngineClient["awaitEvent"]>,
    updateRuns: (p) => send("updateRuns", p) as ReturnType<EngineClient["updateRuns"]>,
    appendLogs: async (p) => {
      await send("appendLogs", p);
    },
    claimRuns: notHere("claimRuns"),
    extendLeases: notHere("extendLeases"),
    finishRuns: notHere("finishRuns"),
    subscribe: notHere("subscribe"),
  };
}

/** Pending `call`s of a host, by id; replies settle them. */
export class PendingCalls {
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  #nextId = 1;

  /** Registers a call; returns its id and the promise of its reply. */
  open(): { id: number; reply: Promise<unknown> } {
    const id = this.#nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    return { id, reply };
  }

  settle(id: number, ok: boolean, value: unknown, error: SerializedError | undefined): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    if (ok) pending.resolve(value);
    else pending.reject(deserializeError(error ?? { code: "INTERNAL", message: "The worker rejected the call" }));
  }
}
