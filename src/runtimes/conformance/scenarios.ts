/**
 * The activation conformance scenarios: the same workflow written in JS and in Python, what the
 * runner does between activations, and the history and outcome every runtime must produce. The
 * runner (conformance.test.ts) executes each one in-process, in a Node host and in a Python host.
 * JS durations are milliseconds, Python ones seconds.
 */

/** What the runner does after the worker has drained, before draining again. */
export type ConformanceAction =
  /** Moves the store's clock forward (a sleep or a retry backoff ends). */
  | { readonly kind: "advance"; readonly ms: number; readonly expectStatus: string }
  /** Sends an event to the run's namespace. */
  | {
      readonly kind: "event";
      readonly name: string;
      readonly key?: string;
      readonly payload: unknown;
      readonly expectStatus: string;
    }
  /** Deploys another version of the code under the same name (a change between activations). */
  | { readonly kind: "redeploy"; readonly js: string; readonly python: string; readonly advanceMs: number };

/** One recorded step, as listed by seq. */
export interface ExpectedStep {
  readonly name: string;
  readonly type: "step" | "sleep" | "event" | "child" | "compensation";
  readonly status: string;
  readonly attempt?: number;
}

/** How the run ends: its status and either its output or its error code. */
export type ExpectedOutcome =
  | { readonly status: "completed"; readonly output: unknown }
  | { readonly status: "failed" | "compensated"; readonly code: string };

/** A scenario: code in both languages, input, actions, expected history and outcome. */
export interface ConformanceScenario {
  readonly name: string;
  /** An ES module whose default export is the workflow. */
  readonly js: string;
  /** A Python module with `def workflow(input, ctx)`. */
  readonly python: string;
  readonly input?: unknown;
  readonly actions?: readonly ConformanceAction[];
  readonly history: readonly ExpectedStep[];
  readonly outcome: ExpectedOutcome;
}

/** The in-process task kind child-run scenarios call, registered by the runner on every worker. */
export const DOUBLE_TASK = { kind: "double", handler: (input: { n: number }) => ({ n: input.n * 2 }) };

export const SCENARIOS: readonly ConformanceScenario[] = [
  {
    name: "steps are memoized across replay",
    js: `export default async function workflow(input, ctx) {
  const a = await ctx.step("a", () => input.n + 1);
  await ctx.sleep("nap", 1000);
  const b = await ctx.step("b", () => a * 10);
  return { a, b };
}
`,
    python: `def workflow(input, ctx):
    a = ctx.step("a", lambda: input["n"] + 1)
    ctx.sleep("nap", 1)
    b = ctx.step("b", lambda: a * 10)
    return {"a": a, "b": b}
`,
    input: { n: 1 },
    actions: [{ kind: "advance", ms: 1000, expectStatus: "sleeping" }],
    history: [
      { name: "a", type: "step", status: "completed", attempt: 1 },
      { name: "nap", type: "sleep", status: "completed" },
      { name: "b", type: "step", status: "completed", attempt: 1 },
    ],
    outcome: { status: "completed", output: { a: 2, b: 20 } },
  },
  {
    name: "a durable sleep parks the run until its timer",
    js: `export default async function workflow(input, ctx) {
  await ctx.sleep("wait", 5000);
  await ctx.sleep("wait", 5000);
  return "rested";
}
`,
    python: `def workflow(input, ctx):
    ctx.sleep("wait", 5)
    ctx.sleep("wait", 5)
    return "rested"
`,
    actions: [
      { kind: "advance", ms: 4999, expectStatus: "sleeping" },
      { kind: "advance", ms: 1, expectStatus: "sleeping" },
      { kind: "advance", ms: 5000, expectStatus: "sleeping" },
    ],
    history: [
      { name: "wait", type: "sleep", status: "completed" },
      { name: "wait#2", type: "sleep", status: "completed" },
    ],
    outcome: { status: "completed", output: "rested" },
  },
  {
    name: "an event wait returns the event's payload",
    js: `export default async function workflow(input, ctx) {
  const decision = await ctx.waitForEvent("approval", { event: "order.approved", key: input.order });
  return await ctx.step("ship", () => ({ shipped: decision.ok }));
}
`,
    python: `def workflow(input, ctx):
    decision = ctx.wait_for_event("approval", event="order.approved", key=input["order"])
    return ctx.step("ship", lambda: {"shipped": decision["ok"]})
`,
    input: { order: "o-1" },
    actions: [{ kind: "event", name: "order.approved", key: "o-1", payload: { ok: true }, expectStatus: "waiting" }],
    history: [
      { name: "approval", type: "event", status: "completed" },
      { name: "ship", type: "step", status: "completed" },
    ],
    outcome: { status: "completed", output: { shipped: true } },
  },
  {
    name: "a child run's output becomes the parent's step",
    js: `export default async function workflow(input, ctx) {
  const child = await ctx.task("double", { n: 21 });
  return child.n;
}
`,
    python: `def workflow(input, ctx):
    return ctx.task("double", {"n": 21})["n"]
`,
    history: [{ name: "task:double", type: "child", status: "completed" }],
    outcome: { status: "completed", output: 42 },
  },
  {
    name: "parallel steps are recorded in call order",
    js: `export default async function workflow(input, ctx) {
  const [a, b, c] = await Promise.all([
    ctx.step("a", () => 1),
    ctx.step("b", () => 2),
    ctx.step("c", () => 3),
  ]);
  return a + b + c;
}
`,
    python: `def workflow(input, ctx):
    a, b, c = ctx.all([
        lambda: ctx.step("a", lambda: 1),
        lambda: ctx.step("b", lambda: 2),
        lambda: ctx.step("c", lambda: 3),
    ])
    return a + b + c
`,
    history: [
      { name: "a", type: "step", status: "completed" },
      { name: "b", type: "step", status: "completed" },
      { name: "c", type: "step", status: "completed" },
    ],
    outcome: { status: "completed", output: 6 },
  },
  {
    name: "a step's error is thrown into the workflow and can be caught",
    js: `export default async function workflow(input, ctx) {
  try {
    await ctx.step("boom", () => {
      throw new Error("nope");
    });
  } catch (error) {
    return await ctx.step("recover", () => ({ caught: error.code }));
  }
}
`,
    python: `def workflow(input, ctx):
    def boom():
        raise ValueError("nope")
    try:
        ctx.step("boom", boom)
    except Exception as error:
        return ctx.step("recover", lambda: {"caught": error.code})
`,
    history: [
      { name: "boom", type: "step", status: "failed", attempt: 1 },
      { name: "recover", type: "step", status: "completed" },
    ],
    outcome: { status: "completed", output: { caught: "STEP_FAILED" } },
  },
  {
    name: "a failing step is retried durably, then fails the run",
    js: `export default async function workflow(input, ctx) {
  await ctx.step("flaky", () => {
    throw new Error("down");
  }, { retry: { maxAttempts: 3, initialIntervalMs: 1000, backoffCoefficient: 2 } });
}
`,
    python: `def workflow(input, ctx):
    def flaky():
        raise RuntimeError("down")
    ctx.step("flaky", flaky, retry={"max_attempts": 3, "initial_interval": 1, "backoff_coefficient": 2})
`,
    actions: [
      { kind: "advance", ms: 1000, expectStatus: "sleeping" },
      { kind: "advance", ms: 2000, expectStatus: "sleeping" },
    ],
    history: [{ name: "flaky", type: "step", status: "failed", attempt: 3 }],
    outcome: { status: "failed", code: "STEP_FAILED" },
  },
  {
    name: "a changed step sequence is caught as non-deterministic",
    js: `export default async function workflow(input, ctx) {
  await ctx.step("charge", () => 1);
  await ctx.sleep("pause", 1000);
  return "v1";
}
`,
    python: `def workflow(input, ctx):
    ctx.step("charge", lambda: 1)
    ctx.sleep("pause", 1)
    return "v1"
`,
    actions: [
      {
        kind: "redeploy",
        js: `export default async function workflow(input, ctx) {
  await ctx.step("refund", () => 1);
  await ctx.sleep("pause", 1000);
  return "v2";
}
`,
        python: `def workflow(input, ctx):
    ctx.step("refund", lambda: 1)
    ctx.sleep("pause", 1)
    return "v2"
`,
        advanceMs: 1000,
      },
    ],
    history: [
      { name: "charge", type: "step", status: "completed" },
      // The run stopped for good: its open wait is closed.
      { name: "pause", type: "sleep", status: "cancelled" },
    ],
    outcome: { status: "failed", code: "NON_DETERMINISTIC" },
  },
  {
    name: "a terminal failure runs the compensations in reverse order",
    js: `export default async function workflow(input, ctx) {
  await ctx.step("flight", () => "F1", { compensate: () => "undo flight" });
  await ctx.step("hotel", () => "H1", { compensate: () => "undo hotel" });
  await ctx.step("car", () => {
    throw new Error("no cars");
  });
}
`,
    python: `def workflow(input, ctx):
    ctx.step("flight", lambda: "F1", compensate=lambda booking: "undo flight")
    ctx.step("hotel", lambda: "H1", compensate=lambda booking: "undo hotel")
    def car():
        raise RuntimeError("no cars")
    ctx.step("car", car)
`,
    history: [
      { name: "flight", type: "step", status: "compensated" },
      { name: "hotel", type: "step", status: "compensated" },
      { name: "car", type: "step", status: "failed" },
      { name: "compensate:hotel", type: "compensation", status: "completed" },
      { name: "compensate:flight", type: "compensation", status: "completed" },
    ],
    outcome: { status: "compensated", code: "STEP_FAILED" },
  },
];
