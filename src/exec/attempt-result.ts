import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import { KilnError } from "../errors.ts";
import { type AttemptPaths, applyKeyValueFiles } from "./attempt-files.ts";
import type { AttemptRecorder } from "./attempt-recorder.ts";
import { decideVerdict } from "./attempt-verdict.ts";
import type { HeadTail } from "./bounded-lines.ts";
import type { Masker } from "./masker.ts";
import { mergeOutputs, readOutput } from "./output-format.ts";
import type { Supervised } from "./process-supervisor.ts";
import type { ScriptResult, ScriptVerdict } from "./script-result.ts";
import type { ScriptStreams } from "./script-streams.ts";

/** Everything an ended attempt left behind. */
export interface EndedAttempt {
  readonly kind: ResolvedTaskKind;
  readonly pid: number;
  readonly paths: AttemptPaths;
  readonly recorder: AttemptRecorder;
  readonly streams: ScriptStreams;
  readonly capture: HeadTail<string> | null;
  readonly outputFile: string | null;
  readonly supervised: Supervised;
  readonly masker: Masker;
  readonly abortReason: unknown;
  /** performance.now() at the start of the attempt. */
  readonly started: number;
  /** The sandbox's memory limit when the kernel killed a process for going over it, else null. */
  readonly memoryLimitHit?: number | null;
}

/**
 * Turns an ended attempt into its result: applies `$KILN_OUTPUT` / `$KILN_STATE`, waits for state
 * writes, flushes the log tail, decides the verdict, reads the output (best effort on failure) and
 * masks everything, the error's data included.
 */
export async function buildAttemptResult(ended: EndedAttempt): Promise<ScriptResult> {
  const { kind, recorder, streams, supervised, masker } = ended;
  let fileError: unknown = null;
  try {
    applyKeyValueFiles(ended.paths, recorder, kind.maxOutputSizeKb);
  } catch (error) {
    fileError = error;
  }
  const recordError = await recorder.settle();
  recorder.finishLogs(kind.maxLogSizeKb);

  const lastStderrLine = streams.stderrTail
    .lines()
    .findLast((line) => line.trim() !== "")
    ?.trim()
    .slice(0, 500);
  const decided = decideVerdict({
    kind,
    exit: supervised.exit,
    stopReason: supervised.stopReason,
    kill: supervised.kill,
    abortReason: ended.abortReason,
    limitMs: supervised.limitMs,
    recordError: recordError ?? fileError,
    lastStderrLine: lastStderrLine ?? null,
    memoryLimitHit: ended.memoryLimitHit ?? null,
  });
  let verdict: ScriptVerdict = decided.verdict;
  let error = decided.error;
  const outputs = recorder.outputs();
  const read = await readOutput({
    format: kind.outputFormat,
    capture: ended.capture,
    outputFile: ended.outputFile,
    maxOutputSizeKb: kind.maxOutputSizeKb,
    exitCode: supervised.exit.exitCode,
    hasOutputs: Object.keys(outputs).length > 0,
  }).catch((cause: unknown) => ({ ok: false as const, error: new KilnError("INTERNAL", String(cause), { cause }) }));
  // On failure the output is best effort: what could be read, or the set-output keys.
  if (verdict === "success" && !read.ok) [verdict, error] = ["failure", read.error];
  if (verdict === "success" && recorder.outputsOverflowed) {
    [verdict, error] = [
      "failure",
      new KilnError(
        "OUTPUT_TOO_LARGE",
        `The set-output values are over max_output_size_kb ${kind.maxOutputSizeKb}; write large data elsewhere and output a reference`,
        { retryable: false },
      ),
    ];
  }
  const output = masker.maskDeep(mergeOutputs(read.ok ? read.output : null, outputs));
  // Tails were masked line by line; masks added later (::add-mask::) apply to them too.
  const stdoutTail = masker.mask(streams.stdoutTail.text());
  const stderrTail = masker.mask(streams.stderrTail.text());
  const stopReason = supervised.stopReason;
  const details = {
    pid: ended.pid,
    exitCode: supervised.exit.exitCode,
    signal: supervised.exit.signal,
    timedOut: stopReason === "timeout" || stopReason === "deadline",
    heartbeatTimedOut: stopReason === "heartbeat",
    cancelled: stopReason === "cancel",
    durationMs: Math.round(performance.now() - ended.started),
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
}
