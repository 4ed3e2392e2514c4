import type { RetryPolicyInput } from "../../engine/retry-policy.ts";
import type { LazyVectorStore } from "../../store/open-vector-store.ts";
import type { LogLevel } from "../../store/store.ts";
import type { WorkflowContext } from "../../worker/workflow-context.ts";
import type { ExpressionScope } from "../expressions/expression-scope.ts";
import type { FlowNode } from "../definition/flow-definition.ts";
import type { NodeTypeSpec } from "./node-type.ts";
import type { Sandbox } from "../expressions/sandbox.ts";
import type { EmailSettings } from "./email-send.ts";
import type { LlmSettings } from "./llm.ts";
import type { ScriptSettings } from "./script.ts";

/**
 * The contract between the flow interpreter and node types (built-ins and plugins). There are two
 * kinds: a `step` node does its work inside one durable step (its `run` is called at most once per
 * successful visit, its result recorded and replayed); a `durable` node is made of the workflow
 * primitives themselves (sleep, event wait, child run, several steps) and is re-run on replay.
 */

/** The params of a node after `${…}` interpolation (raw params left as written). */
export type NodeParams = Readonly<Record<string, unknown>>;

/** Worker-side settings of the built-in nodes that talk to the outside world. */
export interface FlowServices {
  /** The fetch used by http.request and llm (default: the global fetch). */
  readonly fetch?: typeof globalThis.fetch;
  readonly script?: ScriptSettings;
  readonly email?: EmailSettings;
  readonly llm?: LlmSettings;
  /** The vector store in the worker's database (vector.* and rag.answer nodes); absent on remote workers. */
  readonly vectors?: LazyVectorStore;
  /**
   * Starts a run (deduplicated by its idempotency key) in the worker's engine: the trigger form of
   * email.receive. Present on workers with direct store access (kiln dev, kiln worker --db).
   */
  readonly startRun?: (p: Readonly<FlowStartRunParams>) => Promise<{ readonly id: string; readonly created: boolean }>;
}

/** Params of FlowServices.startRun. */
export interface FlowStartRunParams {
  readonly namespace: string;
  readonly name: string;
  readonly input: unknown;
  readonly idempotencyKey: string;
  readonly queue?: string;
}

/** The run a node executes in, as nodes see it. */
export type NodeRunView = Readonly<{
  id: string;
  name: string;
  namespace: string;
  attempt: number;
  version: string | null;
}>;

/** What a step node's `run` gets besides its params. */
export interface NodeContext {
  readonly nodeId: string;
  /** The durable step this visit is recorded as: `charge`, `charge#2`, `each[3]`. */
  readonly stepName: string;
  /** The node's input: the previous node's output (the flow input for start nodes). */
  readonly input: unknown;
  readonly run: NodeRunView;
  /** Aborted when the node's `timeout` elapses: stop work promptly. */
  readonly signal: AbortSignal;
  /** The node's time limit in milliseconds, or null. */
  readonly timeoutMs: number | null;
  /** Stable across attempts of this visit: give it to the systems the node calls. */
  readonly idempotencyKey: string;
  /** The plugin's `options` from the config (`{}` for built-ins). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly services: FlowServices;
  /** The expression sandbox and this visit's scope, to evaluate expressions the node owns. */
  readonly sandbox: Sandbox;
  readonly scope: ExpressionScope;
  /** The params as written (before interpolation). */
  readonly rawParams: NodeParams;
  /** Appends a line to the run log; secrets are masked. */
  log(message: string, level?: LogLevel): void;
  /** Chooses the action this node finishes with (routes by `next.<action>`); default `default`. */
  setAction(action: string): void;
}

/** A node type whose work is one durable step. */
export interface StepNodeType extends NodeTypeSpec {
  readonly kind: "step";
  /** The retry policy when the node has no `retry:` (e.g. http.request `retries`), from the params as written. */
  readonly defaultRetry?: (rawParams: NodeParams) => RetryPolicyInput | null;
  /** Does the work; the return value (JSON) is the node's output. Throw to fail the attempt. */
  run(params: NodeParams, ctx: NodeContext): unknown;
}

/** A node to run inside another (a for_each item, a parallel branch): type, params, retry, timeout. */
export type InlineNode = Pick<FlowNode, "id" | "type" | "params" | "retry" | "timeoutMs">;

/** Options of running an inline node. */
export interface InlineRunOptions {
  /** Limits how many step nodes execute at once (their steps are all started, in order, at once). */
  readonly gate?: Semaphore;
  /** Retry and timeout used when the inline node has none. */
  readonly fallback?: Pick<FlowNode, "retry" | "timeoutMs">;
}

/** What a durable node's `run` gets besides its params. */
export interface DurableNodeContext {
  readonly nodeId: string;
  /** The base name of this visit's primitives: `wait`, `wait#2`; sub-steps add `[i]` or `.branch`. */
  readonly stepName: string;
  readonly input: unknown;
  readonly node: FlowNode;
  /** Settings of the nodes that talk to the outside world (the agent's model endpoint). */
  readonly services: FlowServices;
  /** The durable primitives. */
  readonly workflow: WorkflowContext;
  readonly sandbox: Sandbox;
  readonly scope: ExpressionScope;
  /** Whether an inline node's type is a step node (runs in one step) or durable. */
  kindOf(type: string): "step" | "durable" | undefined;
  /** Resolves an inline node written in params (cached by the object written). */
  inlineNode(spec: unknown, id: string): InlineNode;
  /**
   * Runs an inline node with this input as a step named `stepName` (or its durable primitives).
   * Call it for every item before awaiting any: primitives must be started in a fixed order.
   */
  runInline(node: InlineNode, input: unknown, stepName: string, options?: InlineRunOptions): Promise<unknown>;
  /** Rounds shared by the nodes of one batch, to start later phases in a replay-stable order. */
  readonly rounds: RoundBarrier;
  log(message: string, level?: LogLevel): void;
}

/** A node type made of durable primitives (sleep, event wait, child runs, several steps). */
export interface DurableNodeType extends NodeTypeSpec {
  readonly kind: "durable";
  /**
   * Runs the node. It must call its first primitives before its first `await`, and start later
   * ones only at fixed points (after `rounds.arrive()`), so that replay sees the same sequence.
   */
  run(params: NodeParams, ctx: DurableNodeContext): Promise<unknown>;
}

/** A node type the interpreter can run. */
export type FlowNodeType = StepNodeType | DurableNodeType;

/** Whether a registered spec can run (plugins without `run` only validate). */
export function isRunnable(spec: NodeTypeSpec | undefined): spec is FlowNodeType {
  return spec !== undefined && "run" in spec && typeof (spec as { run?: unknown }).run === "function";
}

/** A counting semaphore: at most `limit` holders at once, served first come, first served. */
export class Semaphore {
  readonly #waiting: (() => void)[] = [];
  #free: number;

  constructor(limit: number) {
    this.#free = Math.max(1, Math.floor(limit));
  }

  /** Waits for a slot; call the returned function to give it back. */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

/**
 * A barrier for multi-phase durable nodes of one batch (for_each over child runs in chunks).
 * Participants join in batch order; each arrives after finishing a phase; when every remaining
 * participant has arrived, all are released in join order, so the next phase's primitives start
 * in the same order on every replay, whatever order the phases finished in.
 */
export class RoundBarrier {
  #participants = 0;
  #nextIndex = 0;
  readonly #waiting: { readonly index: number; readonly release: () => void }[] = [];

  /** Joins; returns this participant's index. Call before the first await. */
  join(): number {
    this.#participants++;
    return this.#nextIndex++;
  }

  /** Leaves for good (the participant is done, or failed). */
  leave(): void {
    this.#participants--;
    this.#releaseIfComplete();
  }

  /** Waits until every remaining participant has arrived. */
  arrive(index: number): Promise<void> {
    return new Promise<void>((release) => {
      this.#waiting.push({ index, release });
      this.#releaseIfComplete();
    });
  }

  #releaseIfComplete(): void {
    if (this.#waiting.length === 0 || this.#waiting.length < this.#participants) return;
    const released = this.#waiting.splice(0).sort((a, b) => a.index - b.index);
    for (const waiter of released) waiter.release();
  }
}
