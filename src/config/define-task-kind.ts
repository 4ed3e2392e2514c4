import { expectationPhrase, invalidConfigError, problemsFromIssues } from "./config-problems.ts";
import { resolveTaskKind } from "./resolve-config.ts";
import type { ResolvedTaskKind } from "./resolved-config.ts";
import { taskKindSchema } from "./schema.ts";
import { knownKeysAt } from "./task-checks.ts";

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
  return resolveTaskKind(result.data, { baseDir: options.baseDir ?? process.cwd() });
}
