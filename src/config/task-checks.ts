// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import { type ConfigProblem, formatKeyPath, type KeyPath } from "./config-problems.ts";
import type { ConfigSource } from "./config-source.ts";
import {
  configSchema,
  exitCodesSchema,
  pluginSchema,
  retrySchema,
  serverSchema,
  type TaskKindInput,
  taskKindSchema,
  workerSchema,
} from "./schema.ts";

/** The keys allowed at a path of the merged config, for "did you mean" suggestions. */
export function knownKeysAt(path: KeyPath): readonly string[] {
  const last = path[path.length - 1];
  if (path.length === 0) return Object.keys(configSchema.shape);
  if (path.length === 2 && path[0] === "tasks") return Object.keys(taskKindSchema.shape);
  if (path.length === 2 && path[0] === "plugins") return Object.keys(pluginSchema.shape);
  if (last === "server") return Object.keys(serverSchema.shape);
  if (last === "worker") return Object.keys(workerSchema.shape);
  if (last === "exit_codes") return Object.keys(exitCodesSchema.shape);
  if (last === "retry") return Object.keys(retrySchema.shape);
  return [];
}

/** Where the task at an index of the merged list was declared. */
export type TaskOriginOf = (index: number) => { readonly source: ConfigSource; readonly prefix: KeyPath };

/** Checks that span keys or tasks, which the schema cannot express; every problem is located. */
export function checkTasks(tasks: readonly TaskKindInput[], originOf: TaskOriginOf): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (index: number, key: string | null, message: string): ConfigProblem => {
    const { source, prefix } = originOf(index);
    const path = key === null ? prefix : [...prefix, key];
    const position = source.locate(path, "value");
    return { file: source.file, ...position, path: formatKeyPath(path), message };
  };
  const seen = new Map<string, number>();
  tasks.forEach((task, i) => {
    const first = seen.get(task.kind);
    if (first !== undefined) {
      const { source } = originOf(first);
      const line = source.locate(originOf(first).prefix, "value").line;
      problems.push(at(i, "kind", `The task kind "${task.kind}" is already declared at ${source.file}:${line}`));
    } else seen.set(task.kind, i);
    if (task.shell && /\$\{secret:/.test(task.command)) {
      problems.push(
        at(
          i,
          "command",
          "A secret cannot be spliced into shell text; set it in env (TOKEN: ${secret:NAME}) and use $TOKEN",
        ),
      );
    }
    if (task.input_args && task.input_format !== "args") {
      problems.push(at(i, "input_args", "input_args is only used with input_format: args"));
    }
  });
  return problems;
}
