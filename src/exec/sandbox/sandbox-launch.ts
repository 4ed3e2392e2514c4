import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, statSync } from "node:fs";
import { constants } from "node:os";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { ResolvedSandbox } from "../../config/resolve-sandbox.ts";
import { KilnError } from "../../errors.ts";
import type { ProcessExit } from "../spawn-process.ts";
import { AttemptContainer } from "./attempt-container.ts";
import { AttemptCgroup, neededControllers } from "./cgroups.ts";
import { containerArgv } from "./container-argv.ts";
import { probeContainerEngine, probeIsolation } from "./isolation-probe.ts";
import { bubblewrapArgv, namespacesArgv, type SandboxLayout } from "./sandbox-argv.ts";

/** What a sandboxed attempt is started with. */
export interface SandboxedCommand {
  readonly argv: [string, ...string[]];
  /** The attempt's control groups (null without limits); call finish() after the process is gone. */
  readonly cgroup: AttemptCgroup | null;
  /** The environment the command is started with (the script's own, unless it differs). */
  readonly env: Readonly<Record<string, string>>;
  /** The attempt's container (docker profile): remove() after the CLI's group is gone. */
  readonly container: AttemptContainer | null;
  /** Where the command starts, when not in the script's working directory. */
  readonly cwd?: string;
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

// What the engine's CLI itself needs of the worker's environment to reach its engine (never
// passed into the container: the container gets the script's environment by name).
const ENGINE_NAMES = [
  "PATH",
  "HOME",
  "XDG_RUNTIME_DIR",
  "XDG_CONFIG_HOME",
  "DOCKER_HOST",
  "DOCKER_CONTEXT",
  "DOCKER_CONFIG",
  "DOCKER_CERT_PATH",
  "DOCKER_TLS_VERIFY",
  "CONTAINER_HOST",
  "CONTAINERS_CONF",
  "CONTAINERS_STORAGE_CONF",
];

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
 * the profile's command line, or (docker) the container engine's command line with the limits as
 * its flags. The kind was checked against the machine when it was loaded.
 */
export function sandboxCommand(
  sandbox: ResolvedSandbox,
  command: Readonly<{
    argv: readonly [string, ...string[]];
    cwd: string;
    taskDir: string;
    /** The script's environment. */
    env: Readonly<Record<string, string>>;
    /** The worker's environment (what the container engine's CLI needs of it). */
    workerEnv: Readonly<Record<string, string | undefined>>;
  }>,
  paths: SandboxPaths,
): SandboxedCommand {
  const features = probeIsolation();
  const limits = { memoryBytes: sandbox.memoryBytes, cpus: sandbox.cpus, pids: sandbox.pids };
  const attempt = `kiln-${process.pid}-${++attempts}`;
  // A container's limits are its engine's: the engine makes its cgroups.
  const cgroup =
    sandbox.profile === "docker" || neededControllers(limits).length === 0
      ? null
      : AttemptCgroup.create(features.cgroups, limits, attempt);
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
  const layout: SandboxLayout = {
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
      return { argv: bubblewrapArgv(layout), cgroup, env: command.env, container: null };
    case "namespaces":
      return { argv: namespacesArgv(layout), cgroup, env: command.env, container: null };
    case "docker":
      return containerCommand(layout, command.env, command.workerEnv, `${attempt}-${randomBytes(4).toString("hex")}`);
    default:
      throw new KilnError(
        "SANDBOX_UNAVAILABLE",
        `The sandbox profile ${sandbox.profile} cannot start scripts on this worker`,
      );
  }
}

/** The container engine's command line, its environment, and the container to remove afterwards. */
function containerCommand(
  layout: SandboxLayout,
  env: Readonly<Record<string, string>>,
  workerEnv: Readonly<Record<string, string | undefined>>,
  name: string,
): SandboxedCommand {
  const found = probeContainerEngine();
  if (found.engine === null)
    throw new KilnError("SANDBOX_UNAVAILABLE", `The docker sandbox cannot start: ${found.detail}`);
  const cliEnv: Record<string, string> = { ...env };
  for (const key of ENGINE_NAMES) {
    const value = workerEnv[key];
    if (value !== undefined) cliEnv[key] = value;
  }
  // A name whose value the CLI needs differently (HOME, PATH) goes in with its value: those carry no secret.
  const envValues: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (cliEnv[key] !== value) envValues[key] = value;
  const cliArgs = found.cliArgs ?? [];
  const argv = containerArgv(layout, {
    engine: found.engine,
    cliArgs,
    podman: found.podman === true,
    name,
    runArgs: found.runArgs ?? [],
    envNames: Object.keys(env),
    envValues,
    kilnRoot: KILN_ROOT,
  });
  const container = new AttemptContainer({ engine: found.engine, cliArgs, name, attemptDir: layout.attemptDir });
  // The CLI starts in the attempt's directory: podman's conmon leaves an `oom` file in its working
  // directory after a memory kill, which must not land in the script's.
  return { argv, cgroup: null, env: cliEnv, container, cwd: layout.attemptDir };
}

/** The Kiln installation (mounted read-only into an image, for `kiln` inside). */
const KILN_ROOT = fileURLToPath(new URL("../../..", import.meta.url));

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
