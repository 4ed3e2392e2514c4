import { realpathSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import { KilnError } from "../errors.ts";

/** A `${INPUT_*}` or `${STATE_*}` reference: a value the run's caller (or script) controls. */
const CALLER_VALUE = /\$\{(INPUT|STATE)_/;

/** The real path of `path`, or of its parent joined with its name when it does not exist yet. */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return path;
    }
  }
}

/**
 * A path built from caller-controlled values (`configured` holds `${INPUT_*}`/`${STATE_*}`) must
 * stay inside the task's directory once `..` and symlinks are resolved: otherwise an input like
 * `../../etc` would choose what the worker reads or where the script runs. Paths written in config
 * without such values are the operator's choice and are returned as they are.
 */
export function confineRunTimePath(path: string, configured: string, taskDir: string, what: string): string {
  if (!CALLER_VALUE.test(configured)) return path;
  const root = realPath(taskDir);
  const real = realPath(path);
  if (real === root || real.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)) return real;
  throw new KilnError(
    "PATH_NOT_ALLOWED",
    `The ${what} "${configured}" resolves to ${real}, outside the task's directory ${root}; a path built from input or state must stay inside it`,
    { retryable: false, data: { path: real, root } },
  );
}
