import type { ConfigProblem, KeyPath } from "./config-problems.ts";
import type { ConfigSource } from "./config-source.ts";

/** Whether a parsed file holds only tasks: a list, one task (with a kind), or just a tasks list. */
function holdsOnlyTasks(data: unknown): boolean {
  if (Array.isArray(data)) return true;
  if (data === null || typeof data !== "object") return false;
  const keys = Object.keys(data);
  return "kind" in data || (keys.length === 1 && keys[0] === "tasks");
}

/**
 * Splits the files of a config directory (the Forge layout, no kiln.yaml) into one base and
 * tasks files. Files with settings are merged into the base section by section; a section set
 * in two files is a problem (which one would win?). Problems name the file that holds the key.
 */
export function splitDirectorySources(sources: readonly ConfigSource[]): {
  base: ConfigSource;
  taskFiles: ConfigSource[];
} {
  const taskFiles = sources.filter((s) => s.problems.length === 0 && holdsOnlyTasks(s.data));
  const settings = sources.filter((s) => !taskFiles.includes(s));
  const first = settings[0] ?? sources[0];
  if (first === undefined) throw new Error("splitDirectorySources needs at least one source");
  if (settings.length === 0) {
    // Only tasks files: the defaults are the base.
    return { base: { file: first.file, data: {}, locate: first.locate, problems: [] }, taskFiles };
  }
  if (settings.length === 1) return { base: first, taskFiles };
  const data: Record<string, unknown> = {};
  const owner = new Map<string, ConfigSource>();
  const problems: ConfigProblem[] = [];
  for (const source of settings) {
    problems.push(...source.problems);
    if (source.data === null || typeof source.data !== "object" || Array.isArray(source.data)) continue;
    for (const [key, value] of Object.entries(source.data)) {
      const earlier = owner.get(key);
      if (earlier) {
        problems.push({
          file: source.file,
          ...source.locate([key], "key"),
          path: key,
          message: `"${key}" is also set in ${earlier.file}; keep each section in one file`,
        });
        continue;
      }
      owner.set(key, source);
      data[key] = value;
    }
  }
  const ownerOf = (path: KeyPath) => owner.get(String(path[0])) ?? first;
  const base: ConfigSource = {
    // Problems found later are located through `locate`; the file named is the base's first file.
    file: first.file,
    data,
    locate: (path, target) => ownerOf(path).locate(path, target),
    problems,
  };
  return { base, taskFiles };
}
