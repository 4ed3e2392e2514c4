import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import { KilnError } from "../errors.ts";
import {
  type ConfigProblem,
  expectationPhrase,
  invalidConfigError,
  type KeyPath,
  problemsFromIssues,
} from "./config-problems.ts";
import type { ConfigSource } from "./config-source.ts";
import { splitDirectorySources } from "./directory-sources.ts";
import { checkForgeSections } from "./forge-sections.ts";
import { resolveConfig } from "./resolve-config.ts";
import type { ResolvedConfig, SourcePosition } from "./resolved-config.ts";
import { type ConfigInput, configSchema } from "./schema.ts";
import { checkTasks, knownKeysAt } from "./task-checks.ts";
import { parseTomlSource } from "./toml-source.ts";
import { parseYamlSource } from "./yaml-source.ts";

/** The file names looked for in a directory, in this order. */
export const CONFIG_FILE_NAMES = ["kiln.yaml", "kiln.yml", "kiln.toml"] as const;

/** Options of loading the configuration. */
export interface LoadConfigOptions {
  /** Directory searched when no file is given (default: the process's). */
  readonly cwd?: string;
  /** An explicit config file or directory (`--config`); else `KILN_CONFIG`; else `cwd`. */
  readonly file?: string;
  /** Variables for `${VAR}` substitution and `KILN_CONFIG` (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Return the defaults instead of failing when no config file exists (explicit paths must exist). */
  readonly optional?: boolean;
}

/** The config file in a directory, or null. Several candidates are an error (which one would win?). */
export function findConfigFile(dir: string): string | null {
  const found = CONFIG_FILE_NAMES.map((name) => join(dir, name)).filter((path) => existsSync(path));
  if (found.length > 1) {
    throw new KilnError("INVALID_CONFIG", `Found ${found.map((f) => basename(f)).join(" and ")} in ${dir}; keep one`);
  }
  return found[0] ?? null;
}

/** Where the config is: one base file, or (a directory without kiln.yaml) every file in it. */
interface LocatedConfig {
  readonly file: string | null;
  readonly directoryFiles?: readonly string[];
  readonly explicit: boolean;
  readonly cwd: string;
}

/** The `*.yaml`, `*.yml` and `*.toml` files of a config directory, sorted by name. */
export function findDirectoryConfigFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.(ya?ml|toml)$/i.test(name) && statSync(join(dir, name)).isFile())
    .sort()
    .map((name) => join(dir, name));
}

function locateConfigFile(
  options: LoadConfigOptions,
  env: Readonly<Record<string, string | undefined>>,
): LocatedConfig {
  const cwd = resolve(options.cwd ?? process.cwd());
  const explicit = options.file ?? (env.KILN_CONFIG ? env.KILN_CONFIG : undefined);
  if (explicit === undefined) return { file: findConfigFile(cwd), explicit: false, cwd };
  const path = resolve(cwd, explicit);
  if (!existsSync(path)) {
    const via = options.file === undefined ? " (from KILN_CONFIG)" : "";
    throw new KilnError("CONFIG_NOT_FOUND", `The config file ${path}${via} does not exist`);
  }
  if (statSync(path).isDirectory()) {
    const file = findConfigFile(path);
    if (file !== null) return { file, explicit: true, cwd };
    // The Forge layout: a directory of config files, none of them named kiln.yaml.
    const files = findDirectoryConfigFiles(path);
    if (files.length === 0) {
      throw new KilnError(
        "CONFIG_NOT_FOUND",
        `No ${CONFIG_FILE_NAMES.join(", ")} and no *.yaml / *.toml file in ${path}; pass a config file or a directory that holds one`,
      );
    }
    return { file: files[0] as string, directoryFiles: files, explicit: true, cwd };
  }
  return { file: path, explicit: true, cwd };
}

/** Parses one config file's text as YAML or TOML (by extension). */
export function parseSource(
  text: string,
  file: string,
  env: Readonly<Record<string, string | undefined>>,
): ConfigSource {
  const parse = extname(file).toLowerCase() === ".toml" ? parseTomlSource : parseYamlSource;
  return parse(text, { file, env });
}

/** One task in the merged list and where it came from. */
interface TaskOrigin {
  readonly source: ConfigSource;
  /** The task's key path inside its own file. */
  readonly prefix: KeyPath;
}

function tasksOf(source: ConfigSource, problems: ConfigProblem[]): { task: unknown; origin: TaskOrigin }[] {
  const data = source.data;
  const fromList = (list: unknown[], prefix: KeyPath) =>
    list.map((task, i) => ({ task, origin: { source, prefix: [...prefix, i] } }));
  if (Array.isArray(data)) return fromList(data, []);
  if (data !== null && typeof data === "object") {
    const record = data as Record<string, unknown>;
    if ("kind" in record) return [{ task: data, origin: { source, prefix: [] } }];
    const extra = Object.keys(record).filter((key) => key !== "tasks");
    for (const key of extra) {
      const at = source.locate([key], "key");
      problems.push({
        ...at,
        file: source.file,
        path: key,
        message: `A tasks file holds only tasks; "${key}" belongs in the base file`,
      });
    }
    if (Array.isArray(record.tasks)) return fromList(record.tasks, ["tasks"]);
  }
  problems.push({
    file: source.file,
    line: 1,
    column: 1,
    path: "",
    message: "Expected a list of tasks, one task (with a kind), or a mapping with a tasks list",
  });
  return [];
}

function readSource(file: string, name: string, env: Readonly<Record<string, string | undefined>>): ConfigSource {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new KilnError("CONFIG_NOT_FOUND", `Cannot read the config file ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
  return parseSource(text, name, env);
}

/** The tasks files of a config directory: `tasks/*.yaml|yml|toml`, sorted by name. */
export function findTaskFiles(configDir: string): string[] {
  const dir = join(configDir, "tasks");
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .filter((name) => /\.(ya?ml|toml)$/i.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** Options of building a config from already parsed sources. */
export interface BuildConfigOptions {
  readonly base: ConfigSource;
  readonly taskFiles?: readonly ConfigSource[];
  readonly baseDir: string;
  /** The absolute paths loaded (default: the sources' names). */
  readonly files?: readonly string[];
}

/**
 * Merges, validates (every problem at once, located) and resolves parsed sources. Throws
 * INVALID_CONFIG listing every problem.
 */
export function buildConfig(options: BuildConfigOptions): ResolvedConfig {
  const { base } = options;
  const problems: ConfigProblem[] = [...base.problems];
  for (const source of options.taskFiles ?? []) problems.push(...source.problems);
  const baseData = base.data ?? {};
  if (typeof baseData !== "object" || Array.isArray(baseData)) {
    problems.push({ file: base.file, line: 1, column: 1, path: "", message: "Expected a mapping at the top level" });
    throw invalidConfigError(problems);
  }
  const merged = { ...(baseData as Record<string, unknown>) };
  const origins: TaskOrigin[] = [];
  const baseTasks = merged.tasks;
  if (Array.isArray(baseTasks)) {
    for (let i = 0; i < baseTasks.length; i++) origins.push({ source: base, prefix: ["tasks", i] });
  }
  const extraTasks: unknown[] = [];
  for (const source of options.taskFiles ?? []) {
    if (source.problems.length > 0) continue;
    for (const { task, origin } of tasksOf(source, problems)) {
      extraTasks.push(task);
      origins.push(origin);
    }
  }
  if (extraTasks.length > 0 && (baseTasks === undefined || Array.isArray(baseTasks))) {
    merged.tasks = [...((baseTasks as unknown[] | undefined) ?? []), ...extraTasks];
  }

  const where = (path: KeyPath): { source: ConfigSource; local: KeyPath } => {
    const origin = path[0] === "tasks" && typeof path[1] === "number" ? origins[path[1]] : undefined;
    return origin
      ? { source: origin.source, local: [...origin.prefix, ...path.slice(2)] }
      : { source: base, local: path };
  };
  const result = configSchema.safeParse(merged, { error: expectationPhrase });
  if (!result.success) {
    for (const issue of result.error.issues) {
      const { source } = where(issue.path as KeyPath);
      problems.push(
        ...problemsFromIssues([issue], {
          file: source.file,
          data: source.data,
          locate: source.locate,
          knownKeys: knownKeysAt,
          mapPath: (path) => where(path).local,
        }),
      );
    }
  }
  const config = result.success ? (result.data as ConfigInput) : undefined;
  if (config) problems.push(...checkForgeSections(baseData as Record<string, unknown>, base));
  if (config)
    problems.push(...checkTasks(config.tasks ?? [], (i) => origins[i] ?? { source: base, prefix: ["tasks", i] }));
  if (problems.length > 0 || !config) throw invalidConfigError(problems);
  const taskSources: SourcePosition[] = origins.map((o) => ({
    file: o.source.file,
    line: o.source.locate(o.prefix, "value").line,
  }));
  const files = options.files ?? [base.file, ...(options.taskFiles ?? []).map((s) => s.file)];
  return resolveConfig(config, { baseDir: options.baseDir, files, taskSources });
}

/**
 * Loads the configuration: an explicit file or directory, else `KILN_CONFIG`, else `kiln.yaml`,
 * `kiln.yml` or `kiln.toml` in `cwd`; merges `tasks/*.yaml` next to it; substitutes load-time
 * variables; validates and resolves once. Errors: CONFIG_NOT_FOUND, CONFIG_VARIABLE_UNSET,
 * INVALID_CONFIG (listing every problem with file:line:column and key path).
 */
export function loadConfig(options: LoadConfigOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const located = locateConfigFile(options, env);
  if (located.file === null) {
    if (options.optional) return resolveConfig({}, { baseDir: located.cwd });
    throw new KilnError(
      "CONFIG_NOT_FOUND",
      `No ${CONFIG_FILE_NAMES.join(", ")} in ${located.cwd}; create one, or pass --config FILE or KILN_CONFIG`,
    );
  }
  const file = located.file;
  const baseDir = dirname(file);
  // Messages name files relative to the working directory when they are under it.
  const displayName = (path: string) => {
    const rel = relative(located.cwd, path);
    return rel.startsWith("..") ? path : rel;
  };
  if (located.directoryFiles) {
    const paths = [...located.directoryFiles, ...findTaskFiles(baseDir)];
    const sources = paths.map((path) => readSource(path, displayName(path), env));
    const { base, taskFiles } = splitDirectorySources(sources);
    return buildConfig({ base, taskFiles, baseDir, files: paths });
  }
  const paths = [file, ...findTaskFiles(baseDir)];
  const [base, ...taskFiles] = paths.map((path) => readSource(path, displayName(path), env));
  return buildConfig({ base: base as ConfigSource, taskFiles, baseDir, files: paths });
}

/** Parses and resolves config text given directly (tests, embedding). `file` names it in messages. */
export function parseConfig(
  text: string,
  options: Readonly<{ file?: string; env?: Readonly<Record<string, string | undefined>>; baseDir?: string }> = {},
): ResolvedConfig {
  const file = options.file ?? "kiln.yaml";
  const base = parseSource(text, file, options.env ?? process.env);
  return buildConfig({ base, baseDir: options.baseDir ?? process.cwd() });
}
