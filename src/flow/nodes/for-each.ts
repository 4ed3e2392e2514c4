// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { describeValue } from "../../config/config-problems.ts";
import { KilnError, serializeError } from "../../errors.ts";
import { checkInlineNode } from "./inline-node.ts";
import { type DurableNodeType, Semaphore } from "./node-api.ts";
import { checkParamRules, isTemplated, type ParamRules, paramReader } from "./param-rules.ts";

const RULES: ParamRules = {
  items: { kind: "array", required: true, description: 'the list (usually "${input.list}")' },
  do: {
    kind: "object",
    required: true,
    description: "the node to run per item (type, params, retry, timeout); its input is the item",
  },
  concurrency: { kind: "integer", description: "items at once (default 10)" },
  continue_on_error: {
    kind: "boolean",
    description: "keep going when an item fails; its result is { error: { code, message } }",
  },
};

/** Items run at once when `concurrency` is not given. */
export const DEFAULT_FOR_EACH_CONCURRENCY = 10;

/** The error of a for_each whose item failed: the item's code, its index, its message. */
export function itemError(kind: string, nodeId: string, label: string, error: unknown): KilnError {
  const inner = serializeError(error);
  const code = error instanceof KilnError ? error.code : "STEP_FAILED";
  return new KilnError(code, `${label} of ${kind} "${nodeId}" failed: ${inner.message}`, {
    retryable: false,
    data: {
      item: label,
      error: { code: inner.code, message: inner.message, ...(inner.data ? { data: inner.data } : {}) },
    },
  });
}

/**
 * `for_each`: runs the node in `do` once per element of `items`, with `input` set to the element,
 * at most `concurrency` at a time; the output is the list of results in item order. Each item is
 * a durable step `<node>[<i>]` (or a child run / sleep / wait of that name), so a crash resumes at
 * the items not done. A failed item fails the node after the others settle, unless
 * `continue_on_error` (then its result is `{ error }`).
 */
export const forEachNode: DurableNodeType = {
  type: "for_each",
  kind: "durable",
  description: "Runs a node over each item of a list (with a concurrency limit); output is the list of results",
  params: RULES,
  rawParams: ["do"],
  checkParams: (params, code, types) => {
    const problems = checkParamRules("for_each", RULES, params);
    const { concurrency } = params;
    if (typeof concurrency === "number" && concurrency < 1) {
      problems.push({ path: ["concurrency"], message: 'Expected "concurrency" to be 1 or more' });
    }
    if (params.do !== undefined && !isTemplated(params.do))
      problems.push(...checkInlineNode(params.do, ["do"], code, types));
    return problems;
  },
  async run(params, ctx) {
    const read = paramReader("for_each", params);
    const items = read.raw("items");
    if (!Array.isArray(items)) {
      throw new KilnError(
        "INVALID_INPUT",
        `Expected "items" of for_each "${ctx.nodeId}" to be a list, got ${describeValue(items)}`,
      );
    }
    const concurrency = Math.max(1, Math.floor(read.number("concurrency") ?? DEFAULT_FOR_EACH_CONCURRENCY));
    const keepGoing = read.boolean("continue_on_error") ?? false;
    const node = ctx.inlineNode(ctx.node.params.do, `${ctx.nodeId}.do`);
    const fallback = { retry: ctx.node.retry, timeoutMs: ctx.node.timeoutMs };
    const name = (i: number) => `${ctx.stepName}[${i}]`;
    const settled: PromiseSettledResult<unknown>[] = [];

    if (ctx.kindOf(node.type) === "step") {
      // Every item step is started now, in order; the gate only delays the work inside each.
      const gate = new Semaphore(concurrency);
      const runs = items.map((item, i) => ctx.runInline(node, item, name(i), { gate, fallback }));
      settled.push(...(await Promise.allSettled(runs)));
    } else {
      // Child runs, sleeps and waits start in chunks; later chunks start at barrier rounds.
      const chunks = Math.ceil(items.length / concurrency);
      const index = chunks > 1 ? ctx.rounds.join() : -1;
      try {
        for (let c = 0; c < chunks; c++) {
          if (c > 0) await ctx.rounds.arrive(index);
          const chunk = items.slice(c * concurrency, (c + 1) * concurrency);
          const runs = chunk.map((item, j) => ctx.runInline(node, item, name(c * concurrency + j), { fallback }));
          settled.push(...(await Promise.allSettled(runs)));
          if (!keepGoing && settled.some((s) => s.status === "rejected")) break;
        }
      } finally {
        if (index >= 0) ctx.rounds.leave();
      }
    }

    const failed = settled.findIndex((s) => s.status === "rejected");
    if (failed >= 0 && !keepGoing) {
      throw itemError("for_each", ctx.nodeId, `Item ${failed}`, (settled[failed] as PromiseRejectedResult).reason);
    }
    return settled.map((s) => {
      if (s.status === "fulfilled") return s.value;
      const error = serializeError(s.reason);
      return { error: { code: error.code, message: error.message } };
    });
  },
};
