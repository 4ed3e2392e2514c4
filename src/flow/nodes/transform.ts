import type { LogLevel } from "../../engine/log-level.ts";
import type { SandboxLog } from "../sandbox.ts";
import { checkTransformParams, runTransform } from "../transform-node.ts";
import type { StepNodeType } from "./node-api.ts";

const LEVELS: Readonly<Record<SandboxLog["level"], LogLevel>> = {
  info: "info",
  warn: "warning",
  error: "error",
  debug: "debug",
};

/**
 * `transform`: a JavaScript function body run in the QuickJS sandbox with `input`, `flow`,
 * `nodes`, `secrets`, `env`, `run` in scope. Its return value is the output; `console` lines go to
 * the run log.
 */
export const transformNode: StepNodeType = {
  type: "transform",
  kind: "step",
  description: "A JavaScript function body; its return value is the output",
  rawParams: ["script"],
  params: {
    script: {
      kind: "string",
      required: true,
      description:
        "a JavaScript function body run in the sandbox (input, flow, nodes, secrets, env, run in scope); its return value is the output",
    },
  },
  checkParams: (params, code) => [
    ...checkTransformParams(params, code),
    ...Object.keys(params)
      .filter((key) => key !== "script")
      .map((key) => ({ path: [key], message: `Unknown param "${key}" of transform. Known params: script` })),
  ],
  run(_params, ctx) {
    const result = runTransform(ctx.sandbox, ctx.rawParams, ctx.scope);
    for (const line of result.logs) ctx.log(line.message, LEVELS[line.level]);
    return result.value;
  },
};
