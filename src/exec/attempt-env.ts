import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import { KilnError } from "../errors.ts";
import { confineRunTimePath } from "./confine-path.ts";
import { WORKER_ID } from "./worker-watchdog.ts";
import type { AttemptPaths } from "./attempt-files.ts";
import { contextEnv, inheritedEnv, type ScriptContext, stateEnv } from "./context-env.ts";
import { inputEnv, type PreparedInput } from "./input-format.ts";
import { expandRunTime, type RunTimeValues } from "./runtime-vars.ts";

/** What the environment of an attempt is built from. */
export interface AttemptEnvParams {
  readonly kind: ResolvedTaskKind;
  readonly input: unknown;
  readonly prepared: PreparedInput;
  readonly context: ScriptContext;
  readonly state: Readonly<Record<string, string>>;
  readonly secrets: Readonly<Record<string, string>>;
  readonly paths: AttemptPaths;
  /** `$KILN_API_TOKEN`: the attempt's local API session. */
  readonly apiToken: string;
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
  readonly binDir: string | null;
}

/** The process an attempt starts: argv, env and working directory. */
export interface AttemptCommand {
  readonly argv: readonly [string, ...string[]];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | undefined;
  /** The values run-time variables expanded from (for output_file). */
  readonly values: RunTimeValues;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Builds the environment (README "Script tasks"), the argv and the working directory of an
 * attempt. Later sources win: inherited env (minus Kiln's own variables), the kind's env, declared
 * secrets, INPUT_*, STATE_*, then the context variables, which a kind cannot override.
 */
export async function buildAttemptCommand(params: AttemptEnvParams): Promise<AttemptCommand> {
  const { kind, paths, prepared } = params;
  const kiln: Record<string, string> = {
    ...contextEnv(params.context),
    KILN_API_SOCKET: paths.socket,
    KILN_API_TOKEN: params.apiToken,
    // Marks every process of this worker's scripts, setsid'd or not (exec/marked-processes.ts).
    KILN_WORKER_ID: WORKER_ID,
    KILN_OUTPUT: paths.outputFile,
    KILN_STATE: paths.stateFile,
    ...(kind.outputFormat === "file" && kind.outputFile === null ? { KILN_OUTPUT_FILE: paths.resultFile } : {}),
  };
  // Built only when a text of the kind holds a `${…}` reference (most kinds have none).
  let vars: Record<string, string> | null = null;
  const values: RunTimeValues = {
    get vars() {
      vars ??= { ...inputEnv(params.input), ...stateEnv(params.state), ...kiln };
      return vars;
    },
    secrets: params.secrets,
  };
  const expand = (text: string) => expandRunTime(text, values);
  const secretEnv: Record<string, string> = {};
  for (const name of kind.secretEnv) {
    const value = params.secrets[name];
    if (value === undefined) {
      throw new KilnError("SECRET_NOT_FOUND", `The secret ${name} declared by ${kind.kind} is not available`, {
        retryable: false,
      });
    }
    secretEnv[name] = value;
  }
  // One object filled in order (later sources win), instead of a chain of spreads.
  const env: Record<string, string> = Object.assign({}, inheritedEnv(params.baseEnv));
  for (const name in kind.env) env[name] = expand(kind.env[name] as string);
  Object.assign(env, secretEnv, prepared.env, stateEnv(params.state), kiln);
  if (kind.flovynEnv) Object.assign(env, flovynAliases(kiln));
  const path = env.PATH ?? DEFAULT_PATH;
  env.PATH = params.binDir ? `${params.binDir}:${path}` : path;

  const args = [...kind.args.map(expand), ...prepared.args];
  // With a shell the command text is never expanded by Kiln: the shell reads "$INPUT_X" from the
  // environment, so input cannot become shell syntax. Args are positional parameters ($1, …).
  const argv: [string, ...string[]] =
    kind.shell === null ? [expand(kind.command), ...args] : [kind.shell, "-c", kind.command, kind.kind, ...args];
  const cwd =
    kind.workingDirectory === null
      ? undefined
      : confineRunTimePath(
          resolve(kind.taskDir, expand(kind.workingDirectory)),
          kind.workingDirectory,
          kind.taskDir,
          "working_directory",
        );
  if (cwd !== undefined) await checkDirectory(cwd);
  return { argv, env, cwd, values };
}

/** FLOVYN_<NAME> for every KILN_<NAME> context variable: drop-in scripts read their own names. */
function flovynAliases(kiln: Readonly<Record<string, string>>): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const name in kiln) if (name.startsWith("KILN_")) aliases[`FLOVYN_${name.slice(5)}`] = kiln[name] as string;
  return aliases;
}

async function checkDirectory(dir: string): Promise<void> {
  let isDirectory = false;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch {
    throw new KilnError("EXEC_NOT_FOUND", `The working_directory ${dir} does not exist`, { retryable: false });
  }
  if (!isDirectory)
    throw new KilnError("EXEC_NOT_FOUND", `The working_directory ${dir} is not a directory`, { retryable: false });
}
