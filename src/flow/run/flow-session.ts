import { decideRetry } from "../../engine/retry-policy.ts";
import { ERROR_CODES, type ErrorCode, KilnError, type SerializedError, serializeError } from "../../errors.ts";
import type { LogLevel } from "../../store/store.ts";
import type { WorkflowContext } from "../../worker/workflow-context.ts";
import { evaluatePredicate } from "../nodes/condition.ts";
import type { ExpressionScope } from "../expressions/expression-scope.ts";
import { interpolate, maskSecrets } from "../expressions/expressions.ts";
import type { FlowDeps } from "./flow-deps.ts";
import {
  DEFAULT_ACTION,
  ERROR_ACTION,
  type FlowDefinition,
  type FlowNode,
  getNode,
} from "../definition/flow-definition.ts";
import { FlowCursor, type NodeActivation, type NodeOutcome } from "../definition/flow-graph.ts";
import { nodeSecretNames, SecretCache } from "./flow-secrets.ts";
import { canonicalNodeType } from "../nodes/node-aliases.ts";
import { inlineNode } from "../nodes/inline-node.ts";
import {
  type DurableNodeContext,
  type DurableNodeType,
  type FlowNodeType,
  type InlineNode,
  type InlineRunOptions,
  isRunnable,
  type NodeContext,
  type NodeRunView,
  RoundBarrier,
  type Semaphore,
  type StepNodeType,
} from "../nodes/node-api.ts";

/**
 * One activation of a flow run: walks the graph with a FlowCursor in lock-step batches. Every
 * ready node of a batch starts its durable primitive (a step for step nodes; sleep, wait, child
 * runs for durable nodes) synchronously and in batch order, the batch is awaited whole, then the
 * outcomes are handed to the cursor in batch order. So the sequence of primitives depends only on
 * recorded results, never on which branch happened to finish first: a replay after a crash walks
 * the same path and re-runs nothing that completed.
 */

/** What a step node's step records: the node's output and the action it finished with. */
interface StepRecord {
  readonly action: string;
  readonly output: unknown;
  /** The node's `when` was false: it did nothing and passed its input on. */
  readonly skipped?: true;
}

const isStepRecord = (value: unknown): value is StepRecord =>
  value !== null && typeof value === "object" && typeof (value as { action?: unknown }).action === "string";

/** Runs `fn` with an AbortSignal that aborts (and a STEP_TIMEOUT failure) after `ms`. */
async function withTimeout<T>(ms: number | null, what: string, fn: (signal: AbortSignal) => T): Promise<Awaited<T>> {
  const controller = new AbortController();
  if (ms === null) return await fn(controller.signal);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(() => fn(controller.signal)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new KilnError("STEP_TIMEOUT", `${what} did not finish within ${ms} ms`, { retryable: true });
          controller.abort(error);
          reject(error);
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Settings shared by every activation of one compiled flow. */
export interface SessionShared {
  readonly flow: FlowDefinition;
  readonly deps: FlowDeps;
  readonly env: Readonly<Record<string, string>>;
  /** Credentials from the worker's settings, masked like secrets. */
  readonly alwaysMasked: readonly string[];
}

/** One activation of a flow run (see the module comment). */
export class FlowSession {
  readonly #shared: SessionShared;
  readonly #ctx: WorkflowContext;
  readonly #cursor: FlowCursor;
  readonly #secrets: SecretCache;
  readonly #run: NodeRunView;
  readonly #inlineNodes = new WeakMap<InlineNode, FlowNode>();

  constructor(shared: SessionShared, ctx: WorkflowContext, flowInput: unknown) {
    this.#shared = shared;
    this.#ctx = ctx;
    this.#cursor = new FlowCursor(shared.flow, flowInput);
    this.#secrets = new SecretCache(shared.deps.resolveSecret, ctx.run, shared.alwaysMasked);
    const run = ctx.run;
    this.#run = Object.freeze({
      id: run.id,
      name: run.name,
      namespace: run.namespace,
      attempt: run.attempt,
      version: run.version,
    });
  }

  /** Walks the graph to its end; returns the output of the last node that ran. */
  async run(): Promise<unknown> {
    const cursor = this.#cursor;
    while (!cursor.isDone) {
      const batch = cursor.takeReady();
      const rounds = new RoundBarrier();
      const scopes = batch.map((a) => cursor.scopeFor(a, { env: this.#shared.env, run: this.#run }));
      // Durable nodes evaluate their params outside any step: their secrets are resolved first,
      // so that every primitive of the batch then starts synchronously, in batch order.
      const early = await this.#resolveDurableSecrets(batch);
      const outcomes = await Promise.all(
        batch.map((activation, i) => this.#visit(activation, scopes[i] as ExpressionScope, rounds, early)),
      );
      await this.#recordCompensable(batch, outcomes, scopes);
      let failed: { nodeId: string; error: SerializedError } | undefined;
      batch.forEach((activation, i) => {
        const outcome = outcomes[i] as NodeOutcome;
        const decision = cursor.finish(activation.nodeId, outcome);
        if (decision.kind === "fail" && failed === undefined) {
          failed = { nodeId: activation.nodeId, error: outcome.error as SerializedError };
        }
      });
      if (failed !== undefined) throw runFailure(failed.nodeId, failed.error);
    }
    for (const join of cursor.waitingJoins) {
      this.#ctx.log(`Join "${join.nodeId}" never ran: ${join.missing.join(", ")} did not finish`, "notice");
    }
    return cursor.output;
  }

  // ── Visits ─────────────────────────────────────────────────────────────────────────────────

  #typeOf(type: string): FlowNodeType {
    const spec = this.#shared.deps.nodeTypes.get(canonicalNodeType(type));
    if (!isRunnable(spec)) {
      throw new KilnError("INVALID_CONFIG", `Node type "${type}" cannot run on this worker (no implementation loaded)`);
    }
    return spec;
  }

  async #resolveDurableSecrets(batch: readonly NodeActivation[]): Promise<Map<string, unknown>> {
    const errors = new Map<string, unknown>();
    for (const activation of batch) {
      const node = getNode(this.#shared.flow, activation.nodeId);
      const spec = this.#shared.deps.nodeTypes.get(canonicalNodeType(node.type));
      if (!isRunnable(spec) || spec.kind !== "durable") continue;
      try {
        await this.#secrets.ensure(nodeSecretNames(node));
      } catch (error) {
        errors.set(node.id, error);
      }
    }
    return errors;
  }

  /** Runs one node visit to its outcome; a failure is an `error` outcome, never a throw. */
  async #visit(
    activation: NodeActivation,
    scope: ExpressionScope,
    rounds: RoundBarrier,
    early: ReadonlyMap<string, unknown>,
  ): Promise<NodeOutcome> {
    const node = getNode(this.#shared.flow, activation.nodeId);
    const name = activation.visit === 1 ? node.id : `${node.id}#${activation.visit}`;
    try {
      const type = this.#typeOf(node.type);
      if (type.kind === "step") {
        const record = await this.#stepNode(node, type, activation.input, name, scope);
        return { action: record.action, status: record.skipped ? "skipped" : "completed", output: record.output };
      }
      if (early.has(node.id)) throw early.get(node.id);
      const full = this.#withSecrets(scope);
      if (node.when !== null && !evaluatePredicate(this.#shared.deps.sandbox, node.when, full).value) {
        return { action: DEFAULT_ACTION, status: "skipped", output: activation.input };
      }
      const output = await this.#durableNode(node, type, activation.input, name, full, rounds);
      return { action: DEFAULT_ACTION, status: "completed", output };
    } catch (error) {
      const serialized = this.#publicError(error);
      if (Object.hasOwn(node.next, ERROR_ACTION)) {
        this.#ctx.log(
          `Node "${node.id}" failed (${serialized.code}): ${serialized.message}; following its error route`,
          "warning",
        );
      }
      return { action: ERROR_ACTION, status: "failed", output: null, error: serialized };
    }
  }

  /** A step node: one durable step named `name` that records `{ action, output }`. */
  #stepNode(
    node: FlowNode,
    type: StepNodeType,
    input: unknown,
    name: string,
    scope: ExpressionScope,
    gate?: Semaphore,
  ): Promise<StepRecord> {
    const retry = node.retry ?? type.defaultRetry?.(node.params) ?? undefined;
    const compensation = node.compensate;
    const step = this.#ctx.step(name, () => this.#executeStep(node, type, input, name, scope, gate), {
      ...(retry === undefined ? {} : { retry }),
      ...(compensation === null
        ? {}
        : { compensate: (record: StepRecord) => this.#compensate(compensation, record.output, name, scope) }),
    }) as Promise<unknown>;
    // A step recorded by something else than this interpreter reads as a plain output.
    return step.then((recorded) => (isStepRecord(recorded) ? recorded : { action: DEFAULT_ACTION, output: recorded }));
  }

  /** The body of a step node's step: runs only when the step has no recorded result. */
  async #executeStep(
    node: FlowNode,
    type: StepNodeType,
    input: unknown,
    name: string,
    scope: ExpressionScope,
    gate: Semaphore | undefined,
  ): Promise<StepRecord> {
    const release = gate === undefined ? undefined : await gate.acquire();
    try {
      await this.#secrets.ensure(nodeSecretNames(node));
      const full = this.#withSecrets(scope);
      const sandbox = this.#shared.deps.sandbox;
      if (node.when !== null && !evaluatePredicate(sandbox, node.when, full).value) {
        return this.#mask({ action: DEFAULT_ACTION, output: input ?? null, skipped: true });
      }
      const params = interpolate(sandbox, node.params, full, { rawKeys: type.rawParams ?? [] }).value as Readonly<
        Record<string, unknown>
      >;
      let action = DEFAULT_ACTION;
      const output = await withTimeout(node.timeoutMs, `Node "${node.id}"`, (signal) =>
        type.run(
          params,
          this.#nodeContext(node, name, input, full, signal, (chosen) => (action = chosen)),
        ),
      );
      return this.#mask({ action, output: output === undefined ? null : output });
    } catch (error) {
      throw this.#maskError(error);
    } finally {
      release?.();
    }
  }

  #nodeContext(
    node: FlowNode,
    stepName: string,
    input: unknown,
    scope: ExpressionScope,
    signal: AbortSignal,
    setAction: (action: string) => void,
  ): NodeContext {
    const type = this.#shared.deps.nodeTypes.get(canonicalNodeType(node.type)) as { options?: unknown } | undefined;
    return {
      nodeId: node.id,
      stepName,
      input,
      run: this.#run,
      signal,
      timeoutMs: node.timeoutMs,
      idempotencyKey: this.#ctx.idempotencyKey(stepName),
      options: (type?.options as Readonly<Record<string, unknown>> | undefined) ?? {},
      services: this.#shared.deps.services ?? {},
      sandbox: this.#shared.deps.sandbox,
      scope,
      rawParams: node.params,
      log: (message, level) => this.#log(node.id, message, level),
      setAction: (action) => {
        if (typeof action !== "string" || action === "") {
          throw new KilnError("INVALID_INPUT", `Node "${node.id}" chose an action that is not a name`);
        }
        setAction(action);
      },
    };
  }

  /** A durable node: its params are interpolated (and masked: they may be stored as child input). */
  #durableNode(
    node: FlowNode,
    type: DurableNodeType,
    input: unknown,
    name: string,
    scope: ExpressionScope,
    rounds: RoundBarrier,
  ): Promise<unknown> {
    const interpolated = interpolate(this.#shared.deps.sandbox, node.params, scope, { rawKeys: type.rawParams ?? [] });
    const params = this.#mask(interpolated.value) as Readonly<Record<string, unknown>>;
    const ctx = this.#durableContext(node, name, input, scope, rounds);
    return type.run(params, ctx).then((output) => this.#mask(output === undefined ? null : output));
  }

  #durableContext(
    node: FlowNode,
    stepName: string,
    input: unknown,
    scope: ExpressionScope,
    rounds: RoundBarrier,
  ): DurableNodeContext {
    return {
      nodeId: node.id,
      stepName,
      input,
      node,
      services: this.#shared.deps.services ?? {},
      workflow: this.#ctx,
      sandbox: this.#shared.deps.sandbox,
      scope,
      kindOf: (type) => {
        const spec = this.#shared.deps.nodeTypes.get(canonicalNodeType(type));
        return isRunnable(spec) ? spec.kind : undefined;
      },
      inlineNode: (spec, id) => inlineNode(spec, id),
      runInline: (inline, itemInput, itemStep, options) =>
        this.#runInline(inline, itemInput, itemStep, scope, rounds, options ?? {}),
      rounds,
      log: (message, level) => this.#log(node.id, message, level),
    };
  }

  /** Runs a node written inside another one (for_each item, parallel branch) with `input`. */
  #runInline(
    inline: InlineNode,
    input: unknown,
    stepName: string,
    outer: ExpressionScope,
    rounds: RoundBarrier,
    options: InlineRunOptions,
  ): Promise<unknown> {
    let node = this.#inlineNodes.get(inline);
    if (node === undefined) {
      node = Object.freeze({
        ...(inline as FlowNode),
        retry: inline.retry ?? options.fallback?.retry ?? null,
        timeoutMs: inline.timeoutMs ?? options.fallback?.timeoutMs ?? null,
        when: null,
        compensate: null,
      });
      this.#inlineNodes.set(inline, node);
    }
    const type = this.#typeOf(node.type);
    const scope: ExpressionScope = { ...outer, input };
    if (type.kind === "step") {
      return this.#stepNode(node, type, input, stepName, scope, options.gate).then((record) => record.output);
    }
    // A durable inline node's secrets were resolved with its container's, before the batch.
    return this.#durableNode(node, type, input, stepName, this.#withSecrets(scope), rounds);
  }

  /**
   * Durable nodes with a compensation record a marker step once they completed, which carries
   * the compensation. Markers start after the whole batch, in batch order, to keep replay stable.
   */
  async #recordCompensable(
    batch: readonly NodeActivation[],
    outcomes: readonly NodeOutcome[],
    scopes: readonly ExpressionScope[],
  ): Promise<void> {
    const markers = batch.map((activation, i) => {
      const node = getNode(this.#shared.flow, activation.nodeId);
      const outcome = outcomes[i] as NodeOutcome;
      const compensation = node.compensate;
      const spec = this.#shared.deps.nodeTypes.get(canonicalNodeType(node.type));
      if (compensation === null || !isRunnable(spec) || spec.kind !== "durable" || outcome.status !== "completed") {
        return undefined;
      }
      const name = activation.visit === 1 ? node.id : `${node.id}#${activation.visit}`;
      return this.#ctx.step(`${name}:done`, () => outcome.output ?? null, {
        compensate: (output: unknown) => this.#compensate(compensation, output, name, scopes[i] as ExpressionScope),
      });
    });
    await Promise.all(markers);
  }

  /**
   * Runs a compensation node (saga) with the compensated node's output as `input`. It runs in
   * the activation's compensation phase, outside the graph, with in-process retries.
   */
  async #compensate(compensation: FlowNode, output: unknown, name: string, scope: ExpressionScope): Promise<void> {
    const type = this.#typeOf(compensation.type);
    if (type.kind !== "step") {
      throw new KilnError(
        "INVALID_CONFIG",
        `Compensation of "${name}" is a ${type.type} node, which cannot compensate`,
      );
    }
    const stepName = `compensate:${name}`;
    const policy = compensation.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#secrets.ensure(nodeSecretNames(compensation));
        const full: ExpressionScope = { ...this.#withSecrets(scope), input: output };
        const params = interpolate(this.#shared.deps.sandbox, compensation.params, full, {
          rawKeys: type.rawParams ?? [],
        }).value as Readonly<Record<string, unknown>>;
        await withTimeout(compensation.timeoutMs, `Compensation of "${name}"`, (signal) =>
          type.run(
            params,
            this.#nodeContext(compensation, stepName, output, full, signal, () => {}),
          ),
        );
        return;
      } catch (error) {
        const masked = this.#maskError(error);
        const decision = policy === null ? { retry: false as const } : decideRetry(policy, attempt, masked);
        if (!decision.retry) throw masked;
        // The compensation phase runs in one activation: wait in process, not durably.
        await new Promise((resolve) => setTimeout(resolve, Math.min(decision.delayMs, 30_000)));
      }
    }
  }

  // ── Secrets, masking, logs ──────────────────────────────────────────────────────────────────

  #withSecrets(scope: ExpressionScope): ExpressionScope {
    const secrets = this.#secrets.values;
    return scope.secrets === secrets ? scope : { ...scope, secrets };
  }

  #mask<T>(value: T): T {
    return maskSecrets(value, this.#secrets.maskValues);
  }

  #maskError(error: unknown): KilnError {
    const serialized = serializeError(error, "STEP_FAILED");
    const masked = this.#mask({ message: serialized.message, data: serialized.data });
    const code = (Object.hasOwn(ERROR_CODES, serialized.code) ? serialized.code : "STEP_FAILED") as ErrorCode;
    const retryable = error instanceof KilnError ? error.retryable : (serialized.retryable ?? true);
    return new KilnError(code, masked.message, {
      retryable,
      ...(masked.data === undefined ? {} : { data: masked.data }),
    });
  }

  /** An error as nodes and expressions see it (`nodes.<id>.error`, an error route's input): masked, no stack. */
  #publicError(error: unknown): SerializedError {
    const serialized = serializeError(error, "STEP_FAILED");
    return this.#mask({
      code: serialized.code,
      message: serialized.message,
      ...(serialized.retryable === undefined ? {} : { retryable: serialized.retryable }),
      ...(serialized.data === undefined ? {} : { data: serialized.data }),
    });
  }

  #log(nodeId: string, message: string, level: LogLevel = "info"): void {
    this.#ctx.log(this.#mask(`${nodeId}: ${message}`), level);
  }
}

/** The run's error when a node failed without an error route: the node's code, its id in the message and data. */
function runFailure(nodeId: string, error: SerializedError): KilnError {
  const code = (Object.hasOwn(ERROR_CODES, error.code) ? error.code : "STEP_FAILED") as ErrorCode;
  return new KilnError(code, `Node "${nodeId}" failed: ${error.message}`, {
    retryable: false,
    data: { nodeId, ...(error.data === undefined ? {} : error.data) },
  });
}
