// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { defineTaskKind } from "../../config/define-task-kind.ts";
import type { ResolvedTaskKind } from "../../config/resolved-config.ts";
import { OUTPUT_FORMATS } from "../../config/schema.ts";
import { KilnError } from "../../errors.ts";
import { executeScriptTask, type ScriptTaskContext } from "../../exec/script-task.ts";
import type { ScriptSteps } from "../../exec/script-host.ts";
import type { NodeContext, StepNodeType } from "./node-api.ts";
import { checkParamRules, type ParamRules, paramReader } from "./param-rules.ts";

/**
 * `script` (alias `run`): inline shell text run with the task-kind contract (README "Script tasks") by the
 * exec layer: its own process group, the `::` command protocol, exit-code map, output formats,
 * masking. The `run` text is never interpolated; data reaches it only as environment variables:
 * the node's `input` (default: the node input) as `INPUT_<KEY>`, plus `env`.
 */

/** Worker-side settings of script nodes. */
export interface ScriptSettings {
  /** The environment scripts inherit (default process.env). */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  /** A directory put first on PATH (the worker's own `kiln`). */
  readonly binDir?: string | null;
  /** Where attempt directories are created (default the OS temp dir). */
  readonly tempDir?: string;
  /** What relative `working_directory` params resolve against (default the process's cwd). */
  readonly baseDir?: string;
}

const RULES: ParamRules = {
  run: { kind: "string", required: true, description: "the shell text (/bin/sh, or shell: bash); never interpolated" },
  shell: { kind: ["boolean", "string"], description: "true for bash, or the shell to run" },
  input: { kind: "any", description: "the input (default: the node input); each top-level field is INPUT_<KEY>" },
  env: { kind: "object", description: "extra variables (values may be ${…})" },
  output_format: {
    kind: "string",
    values: OUTPUT_FORMATS,
    description: "stdout (default: { stdout }), json_stdout, file, exit_code_only; ::set-output keys are merged in",
  },
  output_file: { kind: "string", description: "the file read with output_format: file" },
  exit_codes: { kind: "object", description: "exit codes mapped to outcomes, as for task kinds" },
  working_directory: { kind: "string", description: "where the shell runs" },
  timeout_action: {
    kind: "string",
    values: ["kill", "signal"],
    description: "kill (default) or signal when the timeout elapses",
  },
  grace_period: { kind: "duration", description: "time between the signal and the kill" },
  max_output_size_kb: { kind: "integer", description: "largest captured output" },
  capture_stderr: { kind: "boolean", description: "keep stderr in the output" },
  max_retries: { kind: "integer", description: "durable retries: shorthand for retry: { max_attempts: N+1 }" },
};

const kinds = new Map<string, ResolvedTaskKind>();
const MAX_KINDS = 1000;

/** The task kind of one script node visit (cached by its definition). */
function taskKindFor(params: Readonly<Record<string, unknown>>, ctx: NodeContext): ResolvedTaskKind {
  const read = paramReader("script", params);
  const run = ctx.rawParams.run;
  if (typeof run !== "string" || run.trim() === "") {
    throw new KilnError("INVALID_CONFIG", `Script node "${ctx.nodeId}" needs "run": the shell text to run`);
  }
  const shell = read.raw("shell");
  const env = read.record("env");
  const grace = read.duration("grace_period");
  const spec = {
    kind: `flow.${ctx.nodeId}`,
    command: run,
    shell: typeof shell === "string" && shell !== "" ? shell : true,
    input_format: "env",
    output_format: read.string("output_format") ?? "stdout",
    ...(read.string("output_file") === undefined ? {} : { output_file: read.string("output_file") }),
    ...(read.record("exit_codes") === undefined ? {} : { exit_codes: read.record("exit_codes") }),
    ...(read.string("working_directory") === undefined ? {} : { working_directory: read.string("working_directory") }),
    ...(read.string("timeout_action") === undefined ? {} : { timeout_action: read.string("timeout_action") }),
    ...(grace === undefined ? {} : { grace_period_seconds: Math.max(0.001, grace / 1000) }),
    ...(read.number("max_output_size_kb") === undefined
      ? {}
      : { max_output_size_kb: read.number("max_output_size_kb") }),
    ...(read.boolean("capture_stderr") === undefined ? {} : { capture_stderr: read.boolean("capture_stderr") }),
    ...(env === undefined
      ? {}
      : {
          env: Object.fromEntries(
            Object.entries(env).map(([k, v]) => [k, typeof v === "string" ? v : (JSON.stringify(v) ?? "")]),
          ),
        }),
    // Retries are the node's (its retry policy, or max_retries below): one attempt per step attempt.
    max_retries: 0,
  };
  const key = JSON.stringify(spec);
  let kind = kinds.get(key);
  if (kind === undefined) {
    try {
      kind = defineTaskKind(spec, { baseDir: ctx.services.script?.baseDir ?? process.cwd(), name: ctx.nodeId });
    } catch (error) {
      if (error instanceof KilnError) {
        throw new KilnError("INVALID_INPUT", `Script node "${ctx.nodeId}": ${error.message}`, { cause: error });
      }
      throw error;
    }
    if (kinds.size >= MAX_KINDS) kinds.clear();
    kinds.set(key, kind);
  }
  return kind;
}

const noDurableSteps = (): never => {
  throw new KilnError(
    "INVALID_CONFIG",
    "kiln step / kiln sleep / kiln wait-event are not available inside a flow script node: make them flow nodes",
  );
};

const NO_STEPS: ScriptSteps = {
  get: () => undefined,
  complete: async () => noDurableSteps(),
  sleep: async () => noDurableSteps(),
  waitForEvent: async () => noDurableSteps(),
};

async function runScriptNode(params: Readonly<Record<string, unknown>>, ctx: NodeContext): Promise<unknown> {
  const kind = taskKindFor(params, ctx);
  const input = Object.hasOwn(params, "input") ? params.input : ctx.input;
  const settings = ctx.services.script ?? {};
  const host: ScriptTaskContext = {
    run: { id: ctx.run.id, input, attempt: ctx.run.attempt, state: {}, parentRunId: null },
    signal: ctx.signal,
    deadlineAt: null,
    log: (level, message) => ctx.log(message, level),
    progress: () => {},
    setState: async () => {},
    heartbeat: () => {},
    steps: NO_STEPS,
  };
  return await executeScriptTask(kind, host, {
    input,
    workflow: { runId: ctx.run.id, name: ctx.run.name },
    idempotencyKey: ctx.idempotencyKey,
    ...(settings.baseEnv === undefined ? {} : { baseEnv: settings.baseEnv }),
    ...(settings.binDir === undefined ? {} : { binDir: settings.binDir }),
    ...(settings.tempDir === undefined ? {} : { tempDir: settings.tempDir }),
  });
}

/** The `script` node type. */
export const scriptNode: StepNodeType = {
  type: "script",
  kind: "step",
  description: "Inline shell (`run:`) with the task-kind contract; input as INPUT_* env vars",
  params: RULES,
  rawParams: ["run"],
  checkParams: (params) => checkParamRules("script", RULES, params),
  defaultRetry: (raw) =>
    typeof raw.max_retries === "number" && raw.max_retries > 0
      ? { maxAttempts: Math.floor(raw.max_retries) + 1, initialIntervalMs: 1000, backoffCoefficient: 2 }
      : null,
  run: runScriptNode,
};
