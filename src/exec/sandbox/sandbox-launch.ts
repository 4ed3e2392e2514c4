import { chmodSync, chownSync, existsSync, statSync } from "node:fs";
import { constants } from "node:os";
import { dirname } from "node:path";
import type { ResolvedSandbox } from "../../config/resolve-sandbox.ts";
import { KilnError } from "../../errors.ts";
import type { ProcessExit } from "../spawn-process.ts";
import { AttemptCgroup, neededControllers } from "./cgroups.ts";
import { probeIsolation } from "./isolation-probe.ts";
import { bubblewrapArgv, namespacesArgv } from "./sandbox-argv.ts";

/** What a sandboxed attempt is started with. */
export interface SandboxedCommand {
  readonly argv: [string, ...string[]];
  /** The attempt's control groups (null without limits); call finish() after the process is gone. */
  readonly cgroup: AttemptCgroup | null;
}

/** The attempt files and socket a sandboxed attempt mounts. */
export interface SandboxPaths {
  readonly attemptDir: string;
  readonly socket: string;
  readonly socketInside: string;
}

// Names that carry no secret and that scripts commonly need; everything else of the worker's
// environment stays outside the sandbox.
const PASSED_NAMES = ["PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TERM"];

/** The environment a sandboxed script inherits from the worker: a few harmless names, HOME=/tmp. */
export function sandboxBaseEnv(base: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = { HOME: "/tmp" };
  for (const name of PASSED_NAMES) {
    const value = base[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

let attempts = 0;

/**
 * Wraps one attempt's command in its sandbox: makes its control groups (memory, CPU, pids) and
 * the profile's command line. The kind was checked against the machine when it was loaded.
 */
export function sandboxCommand(
  sandbox: ResolvedSandbox,
  command: { readonly argv: readonly [string, ...string[]]; readonly cwd: string; readonly taskDir: string },
  paths: SandboxPaths,
): SandboxedCommand {
  const features = probeIsolation();
  const limits = { memoryBytes: sandbox.memoryBytes, cpus: sandbox.cpus, pids: sandbox.pids };
  const cgroup =
    neededControllers(limits).length === 0
      ? null
      : AttemptCgroup.create(features.cgroups, limits, `kiln-${process.pid}-${++attempts}`);
  if (sandbox.uid !== null) {
    const gid = sandbox.gid ?? sandbox.uid;
    chownSync(paths.attemptDir, sandbox.uid, gid);
    // Another uid must reach the socket: requests still need the attempt's token, and the
    // directories stay unlistable (0711), each attempt's own one private to its uid.
    chmodSync(paths.socket, 0o666);
    chmodSync(dirname(paths.socket), 0o711);
  }
  const hidden = sandbox.hiddenPaths
    .filter((path) => existsSync(path))
    .map((path) => ({ path, directory: statSync(path).isDirectory() }));
  const layout = {
    sandbox,
    argv: command.argv,
    cwd: command.cwd,
    taskDir: command.taskDir,
    attemptDir: paths.attemptDir,
    socket: paths.socket,
    socketInside: paths.socketInside,
    hidden,
    procsFiles: cgroup?.procsFiles ?? [],
    root: features.root,
  };
  switch (sandbox.profile) {
    case "bubblewrap":
      return { argv: bubblewrapArgv(layout), cgroup };
    case "namespaces":
      return { argv: namespacesArgv(layout), cgroup };
    default:
      throw new KilnError(
        "SANDBOX_UNAVAILABLE",
        `The sandbox profile ${sandbox.profile} cannot start scripts on this worker`,
      );
  }
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

/**
 * A sandbox reports a script killed by signal N as exit code 128+N (a shell and bubblewrap
 * both do): turned back into the signal, so that messages and exit-code rules read the same as
 * unsandboxed. A script exiting with such a code on purpose is reported as the signal too.
 */
export function sandboxExit(exit: ProcessExit): ProcessExit {
  const code = exit.exitCode;
  if (code === null || code <= 128) return exit;
  const signal = SIGNAL_NAMES.get(code - 128);
  return signal === undefined ? exit : { exitCode: null, signal };
}
