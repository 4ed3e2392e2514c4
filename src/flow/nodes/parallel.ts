// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { KilnError } from "../../errors.ts";
import { itemError } from "./for-each.ts";
import { checkInlineNode } from "./inline-node.ts";
import type { ParamProblem } from "./node-type.ts";
import type { DurableNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules } from "./param-rules.ts";

const RULES: ParamRules = {
  branches: {
    kind: ["object", "array"],
    required: true,
    description: "a map (or list) of inline nodes run at once with the node input",
  },
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * `parallel`: runs every node in `branches` at once with the node's input; each branch is a step
 * `<node>.<branch>` (or `<node>[<i>]` for a list). The output has the branch results by name (a
 * map) or in order (a list). A failed branch fails the node after the others settle.
 */
export const parallelNode: DurableNodeType = {
  type: "parallel",
  kind: "durable",
  description: "Runs branches (a map or list of nodes) in parallel; output has their results",
  params: RULES,
  rawParams: ["branches"],
  checkParams: (params, code, types) => {
    const problems: ParamProblem[] = checkParamRules("parallel", RULES, params);
    const { branches } = params;
    const entries = Array.isArray(branches)
      ? branches.map((b, i) => [i, b] as const)
      : isRecord(branches)
        ? Object.entries(branches)
        : [];
    if ((Array.isArray(branches) || isRecord(branches)) && entries.length === 0) {
      problems.push({ path: ["branches"], message: 'Expected "branches" to hold at least one node' });
    }
    for (const [key, branch] of entries) problems.push(...checkInlineNode(branch, ["branches", key], code, types));
    return problems;
  },
  async run(_params, ctx) {
    const branches = ctx.node.params.branches;
    const fallback = { retry: ctx.node.retry, timeoutMs: ctx.node.timeoutMs };
    const list = Array.isArray(branches);
    const entries: [string, unknown][] = list
      ? branches.map((b, i) => [String(i), b])
      : isRecord(branches)
        ? Object.entries(branches)
        : [];
    if (entries.length === 0) throw new KilnError("INVALID_CONFIG", `Parallel node "${ctx.nodeId}" has no branches`);
    const runs = entries.map(([key, spec]) => {
      const node = ctx.inlineNode(spec, `${ctx.nodeId}.${key}`);
      const name = list ? `${ctx.stepName}[${key}]` : `${ctx.stepName}.${key}`;
      return ctx.runInline(node, ctx.input, name, { fallback });
    });
    const settled = await Promise.allSettled(runs);
    const failed = settled.findIndex((s) => s.status === "rejected");
    if (failed >= 0) {
      const label = `Branch ${list ? failed : `"${entries[failed]?.[0]}"`}`;
      throw itemError("parallel", ctx.nodeId, label, (settled[failed] as PromiseRejectedResult).reason);
    }
    const values = settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
    return list ? values : Object.fromEntries(entries.map(([key], i) => [key, values[i]]));
  },
};
