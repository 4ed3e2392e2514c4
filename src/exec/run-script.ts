import { resolve } from "node:path";
import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import { isKilnError, KilnError } from "../errors.ts";
import { type AttemptPaths, attemptPaths, removeAttemptFiles } from "./attempt-files.ts";
import { buildAttemptCommand } from "./attempt-env.ts";
import { confineRunTimePath } from "./confine-path.ts";
import { AttemptRecorder } from "./attempt-recorder.ts";
import { attemptSpace } from "./attempt-space.ts";
import { buildAttemptResult } from "./attempt-result.ts";
import { cancelError } from "./attempt-verdict.ts";
import { formatSize } from "./bounded-lines.ts";
import type { ScriptContext } from "./context-env.ts";
import { prepareInput } from "./input-format.ts";
import type { LocalApiSession } from "./local-api.ts";
import { Masker } from "./masker.ts";
import { secretInputValues } from "../config/input-schema.ts";
import { outputCapture } from "./output-format.ts";
import { prepareScriptKind, type ScriptDependencies } from "./prepare-script.ts";
import { ProcessSupervisor } from "./process-supervisor.ts";
import { expandRunTime } from "./runtime-vars.ts";
import type { ScriptHost } from "./script-host.ts";
import type { ScriptResult } from "./script-result.ts";
import { ScriptStreams } from "./script-streams.ts";
import { spawnProcess } from "./spawn-process.ts";
import { endSpan, startSpan, traceparentOf } from "../tracing/spans.ts";
import { ensureWorkerWatchdog } from "./worker-watchdog.ts";
import { NO_SANDBOX } from "../config/resolve-sandbox.ts";
import type { AttemptContainer } from "./sandbox/attempt-container.ts";
import type { AttemptCgroup } from "./sandbox/cgroups.ts";
import { sandboxBaseEnv, sandboxCommand, sandboxExit } from "./sandbox/sandbox-launch.ts";

/** What one attempt of a script runs with, besides its task kind. */
export interface RunScriptParams {
  readonly input: unknown;
  readonly context: ScriptContext;
  readonly host: ScriptHost;
  /** State saved by earlier attempts (STATE_<KEY>, GET /state). */
  readonly state?: Readonly<Record<string, string>>;
  /** Secret values by name; every value given is masked, the kind's own are exposed. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Aborting stops the script with the SIGTERM, grace, SIGKILL sequence. */
  readonly signal?: AbortSignal;
  /** The run's deadline (epoch ms): the attempt stops there even before its own timeout. */
  readonly deadlineAt?: number | null;
  /**
   * The environment scripts inherit (default process.env, read once at the first attempt);
   * KILN_*, INPUT_*, STATE_* and TRACEPARENT are dropped.
   */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  /** A directory put first on PATH (the worker's own `kiln`). */
  readonly binDir?: string | null;
  /** Where the process's private directory for attempts is created (default: the OS temp dir). */
  readonly tempDir?: string;
  /** The cache of `requirements` environments and `source` fetches (default: under the task's directory). */
  readonly dependencies?: ScriptDependencies | null;
}

function checkInputSize(kind: ResolvedTaskKind, input: unknown): void {
  const size = Buffer.byteLength(JSON.stringify(input ?? null));
  if (size > kind.maxInputSizeKb * 1024) {
    throw new KilnError(
      "PAYLOAD_TOO_LARGE",
      `The input is ${formatSize(size)} of JSON, over max_input_size_kb ${kind.maxInputSizeKb}`,
      { retryable: false },
    );
  }
}

/**
 * Runs one attempt of a script task kind (README "Script tasks"): prepares input and environment, opens
 * a local API session, spawns the script in its own process group, streams and masks its output,
 * enforces timeout, heartbeat timeout, cancel and park on the whole group, then reads the output
 * and classifies the exit. Never throws for anything the script or its config did: the result
 * says what happened, in one shape for success and failure.
 */
export async function runScript(kind: ResolvedTaskKind, params: RunScriptParams): Promise<ScriptResult> {
  // With tracing on, the process gets a span (a child of the attempt's) and its TRACEPARENT is that span.
  const span = startSpan(`process ${kind.kind}`, {
    attributes: {
      "kiln.task_kind": kind.kind,
      "kiln.run.id": params.context.runId,
      "kiln.attempt": params.context.attempt,
    },
  });
  if (span === undefined) return runAttempt(kind, params);
  const result = await runAttempt(kind, {
    ...params,
    context: { ...params.context, processTraceparent: traceparentOf(span) },
  });
  if (result.pid !== null) span.setAttribute("process.pid", result.pid);
  if (result.exitCode !== null) span.setAttribute("process.exit.code", result.exitCode);
  span.setAttribute("kiln.verdict", result.verdict);
  endSpan(span, result.verdict === "success" || result.verdict === "parked" ? null : result.error);
  return result;
}

async function runAttempt(declared: ResolvedTaskKind, params: RunScriptParams): Promise<ScriptResult> {
  const started = performance.now();
  const masker = new Masker([
    ...Object.values(params.secrets ?? {}),
    ...secretInputValues(params.input, declared.secretFields),
  ]);
  // Becomes the prepared kind (fetched source, dependency environment) once those are ready.
  let kind = declared;
  let releaseCache = () => {};
  const state = params.state ?? {};
  let paths: AttemptPaths | null = null;
  let session: LocalApiSession | null = null;
  // Once the script ran, buildAttemptResult reads and removes $KILN_OUTPUT and $KILN_STATE.
  let keyValueFilesApplied = false;
  const sandbox = kind.sandbox ?? NO_SANDBOX;
  let cgroup: AttemptCgroup | null = null;
  let container: AttemptContainer | null = null;
  // Whether the container's CLI ended under supervision (else, in `finally`, the container is removed).
  let containerEnded = false;
  try {
    checkInputSize(kind, params.input);
    if (params.signal?.aborted) throw cancelError(params.signal.reason);
    const preparedKind = await prepareScriptKind(declared, {
      host: params.host,
      dependencies: params.dependencies ?? null,
      mask: (text) => masker.mask(text),
      baseEnv: params.baseEnv ?? process.env,
      ...(params.signal ? { signal: params.signal } : {}),
    });
    kind = preparedKind.kind;
    releaseCache = preparedKind.release;
    const space = await attemptSpace(params.tempDir);
    paths = attemptPaths(space, sandbox.profile !== "none");
    const supervisor = new ProcessSupervisor({ kind, signal: params.signal, deadlineAt: params.deadlineAt });
    const onActivity = () => supervisor.markActive();
    const recorder = new AttemptRecorder({
      host: params.host,
      masker,
      maxLogSize: kind.maxLogSizeKb * 1024,
      maxOutputSize: kind.maxOutputSizeKb * 1024,
      initialState: state,
      onParked: () => supervisor.stop("parked"),
    });
    session = space.api.openSession(recorder, { onRequest: onActivity, mask: (t) => masker.mask(t) });
    const prepared = await prepareInput(params.input, {
      format: kind.inputFormat,
      inputArgs: kind.inputArgs,
      argsSeparator: kind.argsSeparator,
      shell: kind.shell !== null,
      inputFile: paths.inputFile,
    });
    const command = await buildAttemptCommand({
      kind,
      input: params.input,
      prepared,
      context: params.context,
      state,
      secrets: params.secrets ?? {},
      paths,
      apiToken: session.token,
      baseEnv:
        sandbox.profile === "none" ? (params.baseEnv ?? process.env) : sandboxBaseEnv(params.baseEnv ?? process.env),
      binDir: params.binDir ?? null,
    });
    const outputFile =
      kind.outputFormat !== "file"
        ? null
        : kind.outputFile === null
          ? paths.resultFile
          : confineRunTimePath(
              resolve(command.cwd ?? process.cwd(), expandRunTime(kind.outputFile, command.values)),
              kind.outputFile,
              kind.taskDir,
              "output_file",
            );

    const capture = outputCapture(kind.outputFormat, kind.maxOutputSizeKb * 1024);
    const streams = new ScriptStreams({ recorder, masker, capture, onActivity, commands: kind.commands });
    ensureWorkerWatchdog();
    const sandboxed =
      paths.dir === null
        ? null
        : sandboxCommand(
            sandbox,
            {
              argv: command.argv,
              cwd: command.cwd ?? process.cwd(),
              taskDir: kind.taskDir,
              env: command.env,
              workerEnv: params.baseEnv ?? process.env,
            },
            { attemptDir: paths.dir, socket: paths.apiSocket, socketInside: paths.socket },
          );
    cgroup = sandboxed?.cgroup ?? null;
    container = sandboxed?.container ?? null;
    const child = await spawnProcess({
      argv: sandboxed?.argv ?? command.argv,
      env: sandboxed?.env ?? command.env,
      cwd: sandboxed?.cwd ?? command.cwd,
      stdin: prepared.stdin !== null,
      stderr: kind.captureStderr,
    });
    const watched = await supervisor.supervise(child, streams, prepared.stdin, session.token);
    // A stopped or killed CLI leaves its container running: it is killed by name.
    if (container !== null && (watched.stopReason !== null || watched.exit.signal !== null)) await container.remove();
    containerEnded = true;
    const supervised = sandboxed === null ? watched : { ...watched, exit: sandboxExit(watched.exit) };
    keyValueFilesApplied = true;
    // Checked again now that the script has run: it may have made the path a symlink out.
    if (outputFile !== null && kind.outputFile !== null) {
      confineRunTimePath(outputFile, kind.outputFile, kind.taskDir, "output_file");
    }
    return await buildAttemptResult({
      kind,
      pid: child.pid,
      paths,
      recorder,
      streams,
      capture,
      outputFile,
      supervised,
      masker,
      abortReason: params.signal?.reason,
      started,
      memoryLimitHit:
        cgroup?.memoryLimitHit() === true || container?.memoryLimitHit() === true ? sandbox.memoryBytes : null,
    });
  } catch (error) {
    return failedResult(error, started, masker, params.signal?.aborted === true);
  } finally {
    // From here on the attempt's token is refused, even to a process that escaped its group.
    session?.close();
    releaseCache();
    if (paths) removeAttemptFiles(paths, kind, keyValueFilesApplied);
    await cgroup?.remove();
    if (container !== null && !containerEnded) await container.remove();
  }
}

/** A failure before the process ran (input, config, spawn), as a result of the same shape. */
function failedResult(error: unknown, started: number, masker: Masker, cancelled: boolean): ScriptResult {
  const known = isKilnError(error)
    ? error
    : new KilnError("INTERNAL", `Running the script failed: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
      });
  const masked = new KilnError(known.code, masker.mask(known.message), {
    retryable: known.retryable,
    ...(known.cause === undefined ? {} : { cause: known.cause }),
    ...(known.data === undefined ? {} : { data: masker.maskDeep(known.data) }),
  });
  return {
    verdict: masked.retryable ? "retry" : "failure",
    pid: null,
    exitCode: null,
    signal: null,
    timedOut: false,
    heartbeatTimedOut: false,
    cancelled,
    durationMs: Math.round(performance.now() - started),
    stdoutTail: "",
    stderrTail: "",
    output: null,
    outputs: {},
    stateChanges: {},
    logs: { size: 0, omittedLines: 0, omittedSize: 0 },
    error: masked,
  };
}
