import { KilnError } from "../../errors.ts";
import type { SandboxLayout } from "./sandbox-argv.ts";

/**
 * The `docker run` (or podman's) command line of a sandboxed attempt. The container is the
 * sandbox: its own mount, pid, ipc, uts and network namespaces and cgroup, every capability
 * dropped. Without an image it runs on the host's root as a throwaway overlay (podman only), so
 * the same interpreters and paths work as in the other profiles; the attempt's files, the local
 * API socket, the task's directory and the writable paths are bind-mounted at their own paths.
 */

/** The engine an attempt's container is started with. */
export interface ContainerLaunch {
  /** The CLI, `docker` or `podman`. */
  readonly engine: string;
  /** Arguments before the subcommand (podman's `--runtime runc`). */
  readonly cliArgs: readonly string[];
  /** Whether the CLI is podman's (its flags differ a little). */
  readonly podman: boolean;
  /** The container's unique name, for `kill` and `rm`. */
  readonly name: string;
  /** `run` arguments the engine needed here (`--ulimit`s). */
  readonly runArgs: readonly string[];
  /** Names of the script's environment, passed by name: their values never show on a command line. */
  readonly envNames: readonly string[];
  /** Variables whose value inside differs from the CLI's own (HOME, PATH), passed as NAME=value. */
  readonly envValues: Readonly<Record<string, string>>;
  /** The Kiln installation, mounted read-only into an image so that `kiln` works inside. */
  readonly kilnRoot: string;
}

/** The file the wrapper leaves in the attempt's directory when the kernel killed for memory. */
export const MEMORY_MARKER = ".kiln-memory-limit";

// The container's first process under --init: forwards SIGTERM/INT/HUP to the script's whole process
// group (the init forwards only to its own child), waits through them for the grace period, and on
// a death by signal reads the container's own cgroup for an OOM kill (engines do not all report one).
const WRAPPER = `dir=$1; shift
trap 'trap : TERM INT HUP; kill -TERM 0' TERM
trap 'trap : TERM INT HUP; kill -INT 0' INT
trap 'trap : TERM INT HUP; kill -HUP 0' HUP
exec 3<&0
"$@" <&3 3<&- &
child=$!
exec 3<&-
while :; do wait "$child"; rc=$?; kill -0 "$child" 2>/dev/null || break; done
if [ "$rc" -gt 128 ] && grep -qs '^oom_kill [1-9]' /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control; then
  : > "$dir/${MEMORY_MARKER}"
fi
exit "$rc"`;

/** A bind mount; `-v` splits on ":", so a path holding one cannot be mounted. */
function volume(source: string, target: string, readOnly: boolean): string[] {
  for (const path of [source, target]) {
    if (path.includes(":")) {
      throw new KilnError(
        "SANDBOX_FAILED",
        `The docker sandbox cannot mount ${path}: a path with ":" cannot be bind-mounted with -v; rename it`,
      );
    }
  }
  return ["-v", `${source}:${target}${readOnly ? ":ro" : ""}`];
}

/** The engine's command line that runs one attempt in a container. */
export function containerArgv(layout: SandboxLayout, launch: ContainerLaunch): [string, ...string[]] {
  const { sandbox } = layout;
  const image = sandbox.image;
  const args: string[] = [launch.engine, ...launch.cliArgs, "run", "-i", "--rm", "--init", "--name", launch.name];
  args.push("--cap-drop=ALL", "--security-opt=no-new-privileges", ...launch.runArgs);
  // loopback: a network namespace of its own has a loopback interface, and `none` gives just that.
  args.push(sandbox.network === "on" ? "--network=host" : "--network=none");
  if (launch.podman) args.push("--http-proxy=false");
  if (sandbox.readOnlyRoot) {
    args.push("--read-only");
    // podman's default tmpfs on /run copies the overlay's /run into itself, which recurses.
    if (launch.podman) args.push("--read-only-tmpfs=false");
  }
  // podman copies what is below a tmpfs into it unless told not to: /tmp must start empty, and a
  // hidden directory's contents (the master key) must not be copied into its cover.
  const empty = launch.podman ? ",notmpcopyup" : "";
  if (sandbox.privateTmp) {
    args.push("--tmpfs", `/tmp:rw,exec,mode=1777${empty}`);
  } else args.push(...volume("/tmp", "/tmp", false));
  const readOnly = sandbox.readOnlyRoot;
  const seen = new Set<string>();
  const bind = (path: string, ro: boolean) => {
    if (seen.has(path)) return;
    seen.add(path);
    args.push(...volume(path, path, ro));
  };
  for (const path of sandbox.writablePaths) bind(path, false);
  if (image !== null) bind(launch.kilnRoot, true);
  // Mounts apply deepest last: a task directory inside a writable path would make part of it read-only.
  const insideWritable = (path: string) => sandbox.writablePaths.some((w) => path === w || path.startsWith(`${w}/`));
  for (const path of [layout.taskDir, layout.cwd]) if (!insideWritable(path)) bind(path, readOnly);
  for (const { path, directory } of layout.hidden) {
    args.push(...(directory ? ["--tmpfs", `${path}:ro,size=4k${empty}`] : volume("/dev/null", path, true)));
  }
  args.push(...volume(layout.attemptDir, layout.attemptDir, false));
  args.push(...volume(layout.socket, layout.socketInside, false));
  if (sandbox.memoryBytes !== null) {
    // The same figure for memory and swap: over the limit the script is killed, not swapped out.
    args.push(`--memory=${sandbox.memoryBytes}b`, `--memory-swap=${sandbox.memoryBytes}b`);
  }
  if (sandbox.cpus !== null) args.push(`--cpus=${sandbox.cpus}`);
  if (sandbox.pids !== null) args.push(`--pids-limit=${sandbox.pids}`);
  if (sandbox.uid !== null) args.push("--user", `${sandbox.uid}:${sandbox.gid ?? sandbox.uid}`);
  for (const name of launch.envNames) {
    const value = launch.envValues[name];
    args.push("--env", value === undefined ? name : `${name}=${value}`);
  }
  args.push("-w", layout.cwd);
  args.push(...(image === null ? ["--rootfs", "/:O"] : [image]));
  args.push("/bin/sh", "-c", WRAPPER, "kiln-container", layout.attemptDir, ...layout.argv);
  return args as [string, ...string[]];
}
