import { type ExitCodeEntry, formatExitCodes } from "./exit-codes.ts";
import type { ResolvedTaskKind } from "./resolved-config.ts";

/** A resolved task kind as JSON (exit-code sets as compact lists), e.g. for worker registration. */
export type TaskKindJson = Omit<ResolvedTaskKind, "exitCodes"> & {
  readonly exitCodes: {
    readonly success: ExitCodeEntry[];
    readonly retry: ExitCodeEntry[];
    readonly failure: ExitCodeEntry[];
  };
};

/** Serializes a resolved task kind: Sets become `[0, "3-5", 75]`-style lists; secret values are never in it. */
export function taskKindToJson(kind: ResolvedTaskKind): TaskKindJson {
  return {
    ...kind,
    exitCodes: {
      success: formatExitCodes(kind.exitCodes.success),
      retry: formatExitCodes(kind.exitCodes.retry),
      failure: formatExitCodes(kind.exitCodes.failure),
    },
  };
}
