import { KilnError } from "../../errors.ts";
import type { DurableNodeType } from "./node-api.ts";
import { badParam, checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";

const RULES: ParamRules = {
  duration: { kind: "duration", description: "how long: 5m, 2h, or milliseconds" },
  until: { kind: ["string", "number"], description: "an ISO timestamp or epoch milliseconds" },
};

/**
 * `sleep`: a durable sleep (the run parks: no process, no memory) for `duration`, or until `until`
 * (an ISO timestamp or epoch milliseconds, measured against the run's deterministic clock). The
 * output is the input, passed through.
 */
export const sleepNode: DurableNodeType = {
  type: "sleep",
  kind: "durable",
  description: "A durable sleep for `duration` or until `until`; passes its input through",
  params: RULES,
  checkParams: (params) => {
    const problems = checkParamRules("sleep", RULES, params);
    const given = ["duration", "until"].filter((key) => Object.hasOwn(params, key));
    if (given.length !== 1) {
      problems.push({ path: [], message: 'A sleep node needs exactly one of "duration" or "until"' });
    }
    return problems;
  },
  async run(params, ctx) {
    const read = paramReader("sleep", params);
    let ms = read.duration("duration");
    if (ms === undefined) {
      const until = read.raw("until");
      const at = typeof until === "number" ? until : typeof until === "string" ? Date.parse(until) : Number.NaN;
      if (!Number.isFinite(at)) throw badParam("sleep", "until", "an ISO timestamp or epoch milliseconds", until);
      ms = Math.max(0, at - ctx.workflow.now());
    }
    if (ms === undefined) throw new KilnError("INVALID_INPUT", 'A sleep node needs "duration" or "until"');
    await ctx.workflow.sleep(ctx.stepName, ms);
    return ctx.input;
  },
};
