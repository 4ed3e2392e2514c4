import { fileURLToPath } from "node:url";
import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import { resolveRetryPolicy } from "../engine/retry-policy.ts";
import { startingWorkflowName } from "../engine/workflow-label.ts";
import { executeScriptTask } from "./script-task.ts";
import type { ScriptDependencies } from "./prepare-script.ts";
import { NO_SANDBOX, type ResolvedSandbox } from "../config/resolve-sandbox.ts";
import { probeContainerEngine, probeIsolation } from "./sandbox/isolation-probe.ts";
import { checkSandbox } from "./sandbox/sandbox-check.ts";
import type { TaskKinds } from "../workflow/task-context.ts";

/** The directory holding the worker's own `kiln`, put first on every script's PATH. */
export const KILN_BIN_DIR = fileURLToPath(new URL("../../bin/path", import.meta.url));

/** Options of registering the script task kinds of a config. */
export interface ScriptKindOptions {
  /** Scripts without a `working_directory` run here (the config's directory). */
  readonly baseDir: string;
  /** Resolves a secret by name for the run that needs it (vault, env:, file:, cmd:). */
  readonly resolveSecret?: (name: string) => Promise<string>;
  /** Opens the input's sealed secret fields (secrets/sealed-input.ts) just before the script runs. */
  readonly unsealInput?: (input: unknown) => Promise<unknown>;
  readonly binDir?: string;
  /** The cache of `requirements` environments and `source` fetches. */
  readonly dependencies?: ScriptDependencies;
  /** The sandbox of kinds that set none (default: the config's worker default, else none). */
  readonly sandbox?: ResolvedSandbox;
  /** Paths no sandboxed script may see (the worker's data directory, with its master key). */
  readonly hiddenPaths?: readonly string[];
}

/**
 * The sandbox a kind runs in on this worker, checked against what the machine offers: a profile
 * the machine cannot honour is refused here, when the kind is loaded (SANDBOX_UNAVAILABLE).
 */
export function effectiveSandbox(kind: ResolvedTaskKind, options: ScriptKindOptions): ResolvedSandbox {
  const chosen = kind.sandbox ?? options.sandbox ?? NO_SANDBOX;
  if (chosen.profile === "none") return chosen;
  checkSandbox(kind.kind, chosen, probeIsolation(), probeContainerEngine);
  const hidden = [...new Set([...chosen.hiddenPaths, ...(options.hiddenPaths ?? [])])];
  return Object.freeze({ ...chosen, hiddenPaths: Object.freeze(hidden) });
}

/**
 * Registers every script task kind of a resolved config on a worker's registry, replacing kinds
 * registered earlier under the same name (config reload). Secrets are resolved per attempt, only
 * on the worker running it, and masked by the executor in everything it records.
 */
export function registerScriptKinds(
  registry: TaskKinds,
  kinds: readonly ResolvedTaskKind[],
  options: ScriptKindOptions,
): void {
  // Every kind is checked before any is registered: a refused sandbox leaves the registry as it was.
  const ready = kinds.map((declared) => ({
    ...declared,
    workingDirectory: declared.workingDirectory ?? options.baseDir,
    sandbox: effectiveSandbox(declared, options),
  }));
  for (const kind of ready) {
    registry.addTask({
      kind: kind.kind,
      retryPolicy: resolveRetryPolicy(kind.retry),
      settings: Object.freeze({
        command: kind.command,
        inputFormat: kind.inputFormat,
        outputFormat: kind.outputFormat,
        timeoutMs: kind.timeoutMs,
        maxRetries: kind.maxRetries,
        queue: kind.queue,
        description: kind.description,
        ...(kind.sandbox.profile === "none" ? {} : { sandbox: kind.sandbox.profile }),
        // The server checks run inputs against these before a run is created (server/startable.ts).
        ...(kind.inputSchema === null ? {} : { inputSchema: kind.inputSchema }),
        ...(kind.secretFields.length === 0 ? {} : { secretFields: kind.secretFields }),
      }),
      handler: async (input, ctx) => {
        const secrets: Record<string, string> = {};
        for (const name of kind.secrets) {
          if (!options.resolveSecret) break;
          secrets[name] = await options.resolveSecret(name);
        }
        return await executeScriptTask(kind, ctx, {
          input: options.unsealInput ? await options.unsealInput(input) : input,
          secrets,
          binDir: options.binDir ?? KILN_BIN_DIR,
          ...(options.dependencies === undefined ? {} : { dependencies: options.dependencies }),
          workflow: ctx.run.parentRunId ? { runId: ctx.run.parentRunId, name: startingWorkflowName(ctx.run) } : null,
        });
      },
    });
  }
}
