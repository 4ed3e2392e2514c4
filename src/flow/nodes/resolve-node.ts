import { parseDuration } from "../../engine/duration.ts";
import { type RetryPolicy, resolveRetryPolicy } from "../../engine/retry-policy.ts";
import { DEFAULT_ACTION, type FlowNode } from "../definition/flow-definition.ts";
import type { CompensationSpec, NextSpec, NodeSpec, RetrySpec } from "../definition/flow-schema.ts";
import { canonicalNodeType } from "./node-aliases.ts";

/** Turning nodes as written into resolved, frozen FlowNodes (shared by flow-load and inline nodes). */

/** A record without a prototype, so that ids such as `constructor` are plain keys. */
export function record<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) out[key] = value;
  return out;
}

/** Freezes a value and everything in it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function resolveNext(next: NextSpec | undefined): Readonly<Record<string, readonly string[]>> {
  if (next === undefined) return Object.freeze(record<readonly string[]>([]));
  if (typeof next === "string") return Object.freeze(record([[DEFAULT_ACTION, Object.freeze([next])]]));
  if (Array.isArray(next)) return Object.freeze(record([[DEFAULT_ACTION, Object.freeze([...next])]]));
  const routes = Object.entries(next).map(
    ([action, targets]) => [action, Object.freeze(typeof targets === "string" ? [targets] : [...targets])] as const,
  );
  return Object.freeze(record(routes));
}

function resolveRetry(retry: RetrySpec | undefined, id: string): RetryPolicy | null {
  if (retry === undefined) return null;
  const what = (key: string) => `nodes.${id}.retry.${key}`;
  return resolveRetryPolicy({
    ...(retry.max_attempts === undefined ? {} : { maxAttempts: retry.max_attempts }),
    ...(retry.initial_interval === undefined
      ? {}
      : { initialIntervalMs: parseDuration(retry.initial_interval, what("initial_interval")) }),
    ...(retry.max_interval === undefined
      ? {}
      : { maxIntervalMs: parseDuration(retry.max_interval, what("max_interval")) }),
    ...(retry.backoff_coefficient === undefined ? {} : { backoffCoefficient: retry.backoff_coefficient }),
    ...(retry.jitter === undefined ? {} : { jitter: retry.jitter }),
    ...(retry.non_retryable_errors === undefined ? {} : { nonRetryableErrors: retry.non_retryable_errors }),
  });
}

/** A node as written, in the shape every node kind shares. */
export type NodeBody = CompensationSpec & Partial<Pick<NodeSpec, "next" | "needs" | "when">>;

/** Resolves a node as written: type aliases, routes as lists, retry policy, durations in ms. Frozen. */
export function resolveNode(id: string, spec: NodeBody, compensate: FlowNode | null): FlowNode {
  return Object.freeze({
    id,
    type: canonicalNodeType(spec.type),
    name: spec.name ?? null,
    description: spec.description ?? null,
    params: deepFreeze(structuredClone(spec.params ?? {})),
    next: resolveNext(spec.next),
    needs: Object.freeze([...(spec.needs ?? [])]),
    retry: resolveRetry(spec.retry, id),
    timeoutMs: spec.timeout === undefined ? null : parseDuration(spec.timeout, `nodes.${id}.timeout`),
    when: spec.when ?? null,
    compensate,
  });
}

/**
 * Resolves a node written inside params (a for_each `do`, a parallel branch), which has the shape
 * of an inline compensation: type, params, retry, timeout. It has no routes of its own.
 */
export function resolveInlineNode(id: string, spec: CompensationSpec): FlowNode {
  return resolveNode(id, spec, null);
}
