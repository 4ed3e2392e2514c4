import { replaceVariables } from "../config/variables.ts";
import { KilnError } from "../errors.ts";

/**
 * Run-time expansion of `${INPUT_*}`, `${STATE_*}`, `${KILN_*}` and `${secret:NAME}` in a task's
 * command, args, env, working_directory and output_file — by string replacement, never through a
 * shell: an args element stays exactly one argument whatever the value holds.
 */

/** The values available to run-time expansion, by variable name. */
export interface RunTimeValues {
  /** INPUT_*, STATE_* and KILN_* values by their variable name. */
  readonly vars: Readonly<Record<string, string>>;
  readonly secrets: Readonly<Record<string, string>>;
}

/**
 * Expands run-time references in one text. Unknown INPUT_ / STATE_ / KILN_ variables expand to
 * their default or to "" (like a shell); any other `${NAME}` left from load time stays as written.
 * A missing secret is SECRET_NOT_FOUND.
 */
export function expandRunTime(text: string, values: RunTimeValues): string {
  return replaceVariables(text, (ref) => {
    if (ref.secret) {
      const secret = values.secrets[ref.name];
      if (secret === undefined) {
        throw new KilnError("SECRET_NOT_FOUND", `The secret ${ref.name} (used as ${ref.raw}) is not available`, {
          retryable: false,
        });
      }
      return secret;
    }
    if (!/^(INPUT|STATE|KILN)_/.test(ref.name)) return undefined;
    const value = values.vars[ref.name];
    if (value !== undefined && !(value === "" && ref.defaultValue !== null)) return value;
    return ref.defaultValue ?? "";
  });
}
