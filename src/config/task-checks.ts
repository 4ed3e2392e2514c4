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
import { unknownSecretProvider } from "./secret-refs.ts";

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
    problems.push(...checkRunTimeText(task).map((p) => at(i, p.key, p.message)));
    for (const [key, text] of taskTexts(task)) {
      const unknown = unknownSecretProvider(text);
      if (unknown !== null) problems.push(at(i, key, unknown));
    }
    if (task.input_args && task.input_format !== "args") {
      problems.push(at(i, "input_args", "input_args is only used with input_format: args"));
    }
  });
  return problems;
}

/** The texts of a task where `${…}` references expand, with the key each sits under (env as `env`). */
function taskTexts(task: TaskKindInput): [string, string][] {
  return [
    ["command", task.command],
    ...(task.args ?? []).map((arg): [string, string] => ["args", String(arg)]),
    ...Object.values(task.env ?? {}).map((value): [string, string] => ["env", value]),
  ];
}

/** Interpreters whose `-c`/`-e` argument is program text. */
const TEXT_FLAGS: Readonly<Record<string, readonly string[]>> = {
  sh: ["-c"],
  bash: ["-c"],
  dash: ["-c"],
  zsh: ["-c"],
  ksh: ["-c"],
  ash: ["-c"],
  python: ["-c"],
  python3: ["-c"],
  node: ["-e", "--eval", "-p", "--print"],
  perl: ["-e", "-E"],
  ruby: ["-e"],
};

/** `${INPUT_*}`, `${STATE_*}` and `${secret:…}`: values the caller, the script or the vault controls. */
const RUN_TIME_VALUE = /\$\{(INPUT_|STATE_|secret:)/;

/** The index of the program-text argument of `command args…`, or -1 when none is interpreted. */
function programTextIndex(command: string, args: readonly string[]): number {
  const name = command.split("/").pop() ?? command;
  const flags = TEXT_FLAGS[name.replace(/[0-9.]+$/, "")] ?? TEXT_FLAGS[name];
  if (!flags) return -1;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    // `-c`, and bundled short flags that end in it (`-ec`, `-lc`) for the shells.
    if (flags.includes(arg) || (flags.includes("-c") && /^-[a-z]*c$/.test(arg))) return i + 1;
  }
  return -1;
}

/**
 * Run-time values never become program text or argv: `${INPUT_X}` in the script of `bash -c`
 * would be shell syntax for whoever starts a run, and a secret in args is readable by every local
 * user in /proc/PID/cmdline. Both have a safe form (env), which the messages name.
 */
export function checkRunTimeText(task: TaskKindInput): { key: string; message: string }[] {
  const problems: { key: string; message: string }[] = [];
  const args = task.args ?? [];
  const textIndex = programTextIndex(task.command, args);
  const program = textIndex >= 0 ? args[textIndex] : undefined;
  if (program !== undefined && RUN_TIME_VALUE.test(program)) {
    problems.push({
      key: "args",
      message: `args[${textIndex}] is program text that ${task.command} interprets, so a run-time value in it (${RUN_TIME_VALUE.exec(program)?.[0]}…}) would become code; use input_format: env and read "$INPUT_NAME" (or an env: entry) in the script instead`,
    });
  }
  const secretArg = args.findIndex((a, i) => i !== textIndex && /\$\{secret:/.test(a));
  if (secretArg >= 0 || (!task.shell && /\$\{secret:/.test(task.command))) {
    problems.push({
      key: secretArg >= 0 ? "args" : "command",
      message:
        "A secret in a process's arguments is visible to every local user in /proc/PID/cmdline; pass it in env (TOKEN: ${secret:NAME}) or on stdin instead",
    });
  }
  return problems;
}
