import { mkdtempSync, readFileSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import { isKilnError, KilnError } from "../errors.ts";
import type { AttemptPaths } from "./attempt-env.ts";
import { buildAttemptCommand } from "./attempt-env.ts";
import { AttemptRecorder } from "./attempt-recorder.ts";
import { decideVerdict, type StopReason } from "./attempt-verdict.ts";
import { formatSize } from "./bounded-lines.ts";
import type { ScriptContext } from "./context-env.ts";
import { prepareInput } from "./input-format.ts";
import { groupAlive, type KillOutcome, killGroup } from "./kill-tree.ts";
import { type LocalApiServer, startLocalApi } from "./local-api.ts";
import { Masker } from "./masker.ts";
import { parseKeyValueFile } from "./output-files.ts";
import { mergeOutputs, outputCapture, readOutput } from "./output-format.ts";
import { expandRunTime } from "./runtime-vars.ts";
import type { ScriptHost } from "./script-host.ts";
import type { ScriptResult, ScriptVerdict } from "./script-result.ts";
import { ScriptStreams } from "./script-streams.ts";
import { type ProcessExit, type SpawnedProcess, spawnProcess } from "./spawn-process.ts";

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
  /** The environment scripts inherit (default process.env; KILN_*, INPUT_*, STATE_* are dropped). */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  /** A directory put first on PATH (the worker's own `kiln`). */
  readonly binDir?: string | null;
  /** Where the attempt's private directory is created (default: the OS temp dir). */
  readonly tempDir?: string;
}

/** After the leader exited and its group is gone, how long stdout/stderr may take to drain. */
const DRAIN_MS = 2000;
// A Unix socket path must fit in sockaddr_un (108 bytes on Linux, 104 on macOS).
const MAX_SOCKET_PATH = 100;

// The per-attempt file operations below are tiny and synchronous on purpose: a thread-pool round
// trip each would add about a millisecond to every task (issue 3 budgets 1 ms of overhead).
function makeAttemptDir(tempDir: string | undefined): AttemptPaths {
  let base = tempDir ?? tmpdir();
  if (join(base, "kiln-XXXXXX", "api.sock").length > MAX_SOCKET_PATH) base = "/tmp";
  // mkdtemp creates the directory 0700: only this user reaches the socket and the files.
  const dir = mkdtempSync(join(base, "kiln-"));
  // $KILN_OUTPUT and $KILN_STATE are created by the script's first `>>`, if it writes them.
  return {
    dir,
    socket: join(dir, "api.sock"),
    outputFile: join(dir, "output.env"),
    stateFile: join(dir, "state.env"),
    resultFile: join(dir, "result.json"),
  };
}

/** Removes the attempt's directory: the known files first (cheap), anything else recursively. */
function removeAttemptDir(paths: AttemptPaths): void {
  for (const file of [
    paths.socket,
    paths.outputFile,
    paths.stateFile,
    paths.resultFile,
    join(paths.dir, "input.json"),
  ]) {
    try {
      unlinkSync(file);
    } catch {}
  }
  try {
    rmdirSync(paths.dir);
  } catch {
    rmSync(paths.dir, { recursive: true, force: true });
  }
}

/** A file's text, or null when it does not exist. */
function readIfExists(file: string, maxBytes: number, name: string): string | null {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  if (text.length > maxBytes) {
    throw new KilnError(
      "OUTPUT_TOO_LARGE",
      `${name} is ${formatSize(text.length)}, over max_output_size_kb ${maxBytes / 1024}`,
      {
        retryable: false,
      },
    );
  }
  return text.toString("utf8");
}

/** Applies `$KILN_OUTPUT` and `$KILN_STATE` files (capped like the output). */
function applyKeyValueFiles(paths: AttemptPaths, recorder: AttemptRecorder, maxKb: number): void {
  const output = readIfExists(paths.outputFile, maxKb * 1024, "$KILN_OUTPUT");
  if (output !== null)
    for (const [key, value] of parseKeyValueFile(output, "$KILN_OUTPUT")) recorder.setOutput(key, value);
  const state = readIfExists(paths.stateFile, maxKb * 1024, "$KILN_STATE");
  if (state !== null) {
    for (const [key, value] of parseKeyValueFile(state, "$KILN_STATE")) recorder.setState(key, value).catch(() => {});
  }
}

/** A failure before or around the process, as a result. */
function failedResult(
  error: unknown,
  started: number,
  masker: Masker,
  extra: Partial<ScriptResult> = {},
): ScriptResult {
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
    cancelled: false,
    durationMs: Math.round(performance.now() - started),
    stdoutTail: "",
    stderrTail: "",
    output: null,
    outputs: {},
    stateChanges: {},
    logs: { size: 0, omittedLines: 0, omittedSize: 0 },
    ...extra,
    error: masked,
  };
}

/**
 * Runs one attempt of a script task kind (DESIGN.md §4): prepares input and environment, starts
 * the local API, spawns the script in its own process group, streams and masks its output,
 * enforces timeout, heartbeat timeout, cancel and park on the whole group, then reads the output
 * and classifies the exit. Never throws for anything the script or its config did: the result
 * says what happened, in one shape for success and failure.
 */
export async function runScript(kind: ResolvedTaskKind, params: RunScriptParams): Promise<ScriptResult> {
  const started = performance.now();
  const masker = new Masker(Object.values(params.secrets ?? {}));
  const state = params.state ?? {};
  let paths: AttemptPaths | null = null;
  let api: LocalApiServer | null = null;
  let apiStarting: Promise<LocalApiServer> | null = null;
  try {
    const inputSize = Buffer.byteLength(JSON.stringify(params.input ?? null));
    if (inputSize > kind.maxInputSizeKb * 1024) {
      throw new KilnError(
        "PAYLOAD_TOO_LARGE",
        `The input is ${formatSize(inputSize)} of JSON, over max_input_size_kb ${kind.maxInputSizeKb}`,
        { retryable: false },
      );
    }
    if (params.signal?.aborted) throw decideVerdictCancel(kind, params.signal.reason);
    paths = makeAttemptDir(params.tempDir);
    let stop: (reason: StopReason) => void = () => {};
    const recorder = new AttemptRecorder({
      host: params.host,
      masker,
      maxLogSize: kind.maxLogSizeKb * 1024,
      initialState: state,
      onParked: () => stop("parked"),
    });
    let active = true;
    const onActivity = () => {
      active = true;
    };
    // The socket starts listening while the input and command are prepared.
    apiStarting = startLocalApi(paths.socket, recorder, { onRequest: onActivity, mask: (t) => masker.mask(t) });
    const prepared = await prepareInput(params.input, {
      format: kind.inputFormat,
      inputArgs: kind.inputArgs,
      shell: kind.shell !== null,
      dir: paths.dir,
    });
    const command = await buildAttemptCommand({
      kind,
      input: params.input,
      prepared,
      context: params.context,
      state,
      secrets: params.secrets ?? {},
      paths,
      baseEnv: params.baseEnv ?? process.env,
      binDir: params.binDir ?? null,
    });
    const outputFile =
      kind.outputFormat !== "file"
        ? null
        : kind.outputFile === null
          ? paths.resultFile
          : resolve(command.cwd ?? process.cwd(), expandRunTime(kind.outputFile, command.values));

    api = await apiStarting;
    const capture = outputCapture(kind.outputFormat, kind.maxOutputSizeKb * 1024);
    const streams = new ScriptStreams({ recorder, masker, capture, onActivity });
    const child = await spawnProcess({
      argv: command.argv,
      env: command.env,
      cwd: command.cwd,
      stdin: prepared.stdin !== null,
      stderr: kind.captureStderr,
    });
    const supervised = await supervise(
      kind,
      child,
      streams,
      prepared.stdin,
      params,
      (s) => {
        stop = s;
      },
      () => {
        const wasActive = active;
        active = false;
        return wasActive;
      },
    );

    const recordError = await recorder.settle();
    let fileError: unknown = null;
    try {
      applyKeyValueFiles(paths, recorder, kind.maxOutputSizeKb);
    } catch (error) {
      fileError = error;
    }
    await recorder.settle();
    recorder.finishLogs(kind.maxLogSizeKb);

    const lastStderrLine =
      streams.stderrTail
        .lines()
        .findLast((line) => line.trim() !== "")
        ?.trim() ?? null;
    let { verdict, error } = decideVerdict({
      kind,
      exit: supervised.exit,
      stopReason: supervised.stopReason,
      kill: supervised.kill,
      abortReason: params.signal?.reason,
      limitMs: supervised.limitMs,
      recordError: recordError ?? fileError,
      lastStderrLine: lastStderrLine === null ? null : lastStderrLine.slice(0, 500),
    });
    const outputs = recorder.outputs();
    const read = await readOutput({
      format: kind.outputFormat,
      capture,
      outputFile,
      maxOutputSizeKb: kind.maxOutputSizeKb,
      exitCode: supervised.exit.exitCode,
      hasOutputs: Object.keys(outputs).length > 0,
    }).catch((cause: unknown) => ({ ok: false as const, error: new KilnError("INTERNAL", String(cause), { cause }) }));
    // On failure the output is best effort: what could be read, or the set-output keys.
    if (verdict === "success" && !read.ok)
      ({ verdict, error } = { verdict: "failure" as ScriptVerdict, error: read.error });
    const output = masker.maskDeep(mergeOutputs(read.ok ? read.output : null, outputs));
    const stdoutTail = masker.mask(streams.stdoutTail.text());
    const stderrTail = masker.mask(streams.stderrTail.text());
    const durationMs = Math.round(performance.now() - started);
    const stopReason = supervised.stopReason;
    const details = {
      pid: child.pid,
      exitCode: supervised.exit.exitCode,
      signal: supervised.exit.signal,
      timedOut: stopReason === "timeout" || stopReason === "deadline",
      heartbeatTimedOut: stopReason === "heartbeat",
      cancelled: stopReason === "cancel",
      durationMs,
    };
    const finalError =
      error === null
        ? null
        : new KilnError(error.code, masker.mask(error.message), {
            retryable: error.retryable,
            ...(error.cause === undefined ? {} : { cause: error.cause }),
            data: masker.maskDeep({ ...(error.data ?? {}), ...details, stdoutTail, stderrTail, output }),
          });
    return {
      verdict,
      ...details,
      stdoutTail,
      stderrTail,
      output,
      outputs,
      stateChanges: recorder.stateChanges(),
      logs: recorder.logStats(),
      error: finalError,
    };
  } catch (error) {
    return failedResult(error, started, masker, params.signal?.aborted ? { cancelled: true } : {});
  } finally {
    // Closing completes on its own; the attempt does not wait for the handle to be released.
    const server = api ?? (await apiStarting?.catch(() => null)) ?? null;
    void server?.close();
    if (paths) removeAttemptDir(paths);
  }
}

function decideVerdictCancel(kind: ResolvedTaskKind, reason: unknown): KilnError {
  const { error } = decideVerdict({
    kind,
    exit: { exitCode: null, signal: null },
    stopReason: "cancel",
    kill: null,
    abortReason: reason,
    limitMs: null,
    recordError: null,
    lastStderrLine: null,
  });
  return error as KilnError;
}

interface Supervised {
  readonly exit: ProcessExit;
  readonly stopReason: StopReason | null;
  readonly kill: KillOutcome | null;
  readonly limitMs: number | null;
}

/**
 * Feeds stdin, reads the streams, and watches the process until its whole group is gone: the
 * time limit (the kind's timeout or the run's deadline, whichever comes first), the heartbeat
 * timeout, the abort signal and parking all stop the group; leftovers of a script that exited by
 * itself (a backgrounded `sleep 300 &`) are killed too, so no orphan survives the attempt.
 */
async function supervise(
  kind: ResolvedTaskKind,
  child: SpawnedProcess,
  streams: ScriptStreams,
  stdin: string | null,
  params: RunScriptParams,
  setStop: (stop: (reason: StopReason) => void) => void,
  takeActivity: () => boolean,
): Promise<Supervised> {
  const pgid = child.pid;
  let stopReason: StopReason | null = null;
  let killing: Promise<KillOutcome> | null = null;
  const stop = (reason: StopReason) => {
    if (stopReason !== null) return;
    stopReason = reason;
    const force = reason === "parked" || (reason !== "cancel" && kind.timeoutAction === "kill");
    killing = killGroup(pgid, { graceMs: kind.gracePeriodMs, force });
  };
  setStop(stop);

  if (child.stdin) {
    child.stdin.on("error", () => {}); // EPIPE when the script does not read its input
    child.stdin.end(stdin ?? "");
  }
  const drained = Promise.all([
    streams.readStdout(child.stdout),
    child.stderr ? streams.readStderr(child.stderr) : Promise.resolve(),
  ]);

  const timers: NodeJS.Timeout[] = [];
  const intervals: NodeJS.Timeout[] = [];
  const deadlineMs = params.deadlineAt == null ? null : Math.max(0, params.deadlineAt - Date.now());
  const byDeadline = deadlineMs !== null && (kind.timeoutMs === null || deadlineMs < kind.timeoutMs);
  const limitMs = byDeadline ? deadlineMs : kind.timeoutMs;
  if (limitMs !== null) timers.push(setTimeout(() => stop(byDeadline ? "deadline" : "timeout"), limitMs));
  if (kind.heartbeatTimeoutMs !== null) {
    const heartbeatMs = kind.heartbeatTimeoutMs;
    let lastActive = Date.now();
    // Output of any kind, a command or a local API call counts as a heartbeat; checked ten times
    // per timeout so that a busy script pays nothing per line.
    intervals.push(
      setInterval(
        () => {
          const now = Date.now();
          if (takeActivity()) lastActive = now;
          else if (now - lastActive >= heartbeatMs) stop("heartbeat");
        },
        Math.max(10, Math.min(1000, heartbeatMs / 10)),
      ),
    );
  }
  const onAbort = () => stop("cancel");
  params.signal?.addEventListener("abort", onAbort, { once: true });
  if (params.signal?.aborted) onAbort();

  try {
    const exit = await child.exited;
    // `killing` and `stopReason` are set from timers and callbacks, hence the widening casts.
    const pending = killing as Promise<KillOutcome> | null;
    let kill: KillOutcome | null = pending === null ? null : await pending;
    if (kill === null && groupAlive(pgid)) await killGroup(pgid, { graceMs: 0, force: true });
    else if (kill !== null && !kill.empty) kill = await killGroup(pgid, { graceMs: 0, force: true });
    // With the group gone the pipes close; only a process that escaped with setsid could hold them.
    const drainTimer = new AbortController();
    const timeout = delay(DRAIN_MS, "timeout" as const, { signal: drainTimer.signal }).catch(() => "drained" as const);
    const drainedFirst = await Promise.race([drained.then(() => "drained" as const), timeout]);
    drainTimer.abort();
    if (drainedFirst === "timeout") {
      child.stdout.destroy();
      child.stderr?.destroy();
      await drained;
    }
    return { exit, stopReason, kill, limitMs: stopReason === "timeout" || stopReason === "deadline" ? limitMs : null };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const interval of intervals) clearInterval(interval);
    params.signal?.removeEventListener("abort", onAbort);
  }
}
