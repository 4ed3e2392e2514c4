import { expectationPhrase, invalidConfigError, problemsFromIssues } from "./config-problems.ts";
import { resolveTaskKind } from "./resolve-config.ts";
import type { ResolvedTaskKind } from "./resolved-config.ts";
import { taskKindSchema } from "./schema.ts";
import { checkRunTimeText, knownKeysAt } from "./task-checks.ts";

/**
 * Validates and resolves one task kind given as data (snake_case keys, as in kiln.yaml), for
 * programmatic registration and tests. No variable substitution. Throws INVALID_CONFIG listing
 * every problem (positions are key paths only).
 */
export function defineTaskKind(
  raw: unknown,
  options: Readonly<{ baseDir?: string; name?: string }> = {},
): ResolvedTaskKind {
  const result = taskKindSchema.safeParse(raw, { error: expectationPhrase });
  if (!result.success) {
    const file = options.name ?? "task kind";
    throw invalidConfigError(
      problemsFromIssues(result.error.issues, {
        file,
        data: raw,
        locate: () => ({ line: 1, column: 1 }),
        knownKeys: (path) => knownKeysAt(["tasks", 0, ...path]),
      }),
    );
  }
  const unsafe = checkRunTimeText(result.data);
  if (unsafe.length > 0) {
    const file = options.name ?? "task kind";
    throw invalidConfigError(unsafe.map((p) => ({ file, line: 1, column: 1, path: p.key, message: p.message })));
  }
  return resolveTaskKind(result.data, { baseDir: options.baseDir ?? process.cwd() });
}
