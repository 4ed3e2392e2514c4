import { KilnError } from "../../errors.ts";
import type { LogLevel } from "../../store/store.ts";
import type { ExpressionScope } from "../expressions/expression-scope.ts";
import type { ParamProblem } from "./node-type.ts";
import type { CodeChecker, Sandbox, SandboxLog, ScriptValue } from "../expressions/sandbox.ts";
import type { StepNodeType } from "./node-api.ts";

/**
 * A `transform` node runs `params.script`, a JavaScript function body, in the sandbox with `input`
 * (the previous node's output), `flow`, `nodes`, `secrets`, `env`, `run` in scope. Its return
 * value is the node's output; its `console` lines go to the run log.
 */
export function runTransform(
  sandbox: Sandbox,
  params: Readonly<Record<string, unknown>>,
  scope: ExpressionScope,
): ScriptValue {
  const script = params.script;
  if (typeof script !== "string") {
    throw new KilnError("INVALID_CONFIG", "A transform node needs params.script: a JavaScript function body");
  }
  return sandbox.runScript(script, scope);
}

/** The offset in `text` of the start of 1-based line `line`. */
function lineOffset(text: string, line: number): number {
  let offset = 0;
  for (let current = 1; current < line; current++) {
    const next = text.indexOf("\n", offset);
    if (next === -1) return offset;
    offset = next + 1;
  }
  return offset;
}

/** Static problems of a transform node's params: the script must be a string that compiles. */
export function checkTransformParams(params: Readonly<Record<string, unknown>>, code: CodeChecker): ParamProblem[] {
  const script = params.script;
  if (typeof script !== "string" || script.trim() === "") {
    return [
      { path: ["script"], message: 'Expected "script" to be a JavaScript function body that returns the output' },
    ];
  }
  const problem = code.checkScript(script);
  if (problem === undefined) return [];
  const where = problem.line === undefined ? "" : ` (line ${problem.line} of the script)`;
  return [
    {
      path: ["script"],
      offset: problem.line === undefined ? 0 : lineOffset(script, problem.line),
      message: `Bad script: ${problem.message}${where}`,
    },
  ];
}

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
