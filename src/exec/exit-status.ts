import { constants } from "node:os";
import type { ExitCodeMap } from "../config/resolved-config.ts";
import type { ProcessExit } from "./spawn-process.ts";

/** What an exit means under a kind's exit-code map. */
export type ExitClass = "success" | "retry" | "failure";

/** The shell's code for death by a signal: 128 + the signal number (SIGKILL → 137). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Classifies an exit: success codes first, then retry codes (retry wins over an overlapping
 * failure range such as "1-255"), then failure; unlisted codes fail. Death by a signal is
 * classified by its shell code (128 + signal number).
 */
export function classifyExit(map: ExitCodeMap, exit: ProcessExit): ExitClass {
  const code = exit.exitCode ?? (exit.signal === null ? 1 : signalExitCode(exit.signal));
  if (exit.signal === null && map.success.has(code)) return "success";
  if (map.retry.has(code)) return "retry";
  return "failure";
}
