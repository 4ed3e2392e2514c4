import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { type CgroupSupport, detectCgroups } from "./cgroups.ts";

/**
 * What isolation this machine really offers, found by running it (a binary on PATH proves
 * nothing: user namespaces may be disabled, a container may forbid mounts). Probed once per
 * process; `kiln doctor` prints it, and task kinds are checked against it when they load.
 */

/** One probed feature: whether it works, and why not. */
export interface Feature {
  readonly ok: boolean;
  readonly detail: string;
}

/** Every isolation feature the sandbox profiles use. */
export interface IsolationFeatures {
  /** Whether the worker runs as root (unshare then needs no user namespace). */
  readonly root: boolean;
  readonly bubblewrap: Feature;
  readonly userNamespace: Feature;
  readonly mountNamespace: Feature;
  readonly pidNamespace: Feature;
  readonly netNamespace: Feature;
  /** `ip link set lo up` inside a new network namespace (loopback mode of the namespaces profile). */
  readonly loopback: Feature;
  /** `setpriv` switching to another uid (the `uid` option). */
  readonly setpriv: Feature;
  readonly cgroups: CgroupSupport;
}

/** A container engine that can run containers here (docker, or podman's docker-compatible CLI). */
export interface ContainerEngine extends Feature {
  /** The CLI (`docker` or `podman`), null when none can run a container. */
  readonly engine: string | null;
  /** Arguments before the subcommand that made a container run (podman's `--runtime runc`). */
  readonly cliArgs?: readonly string[];
  /** Whether the engine is podman (by either name): only podman runs the host's root as an overlay. */
  readonly podman?: boolean;
  /** `run` arguments a container needed to start here (`--ulimit`s within the machine's hard limits). */
  readonly runArgs?: readonly string[];
}

function run(argv: readonly string[], timeoutMs = 10_000): Feature {
  return runWithOutput(argv, timeoutMs).feature;
}

function runWithOutput(argv: readonly string[], timeoutMs: number): { feature: Feature; stdout: string } {
  const [file, ...args] = argv as [string, ...string[]];
  const result = spawnSync(file, args, { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    const detail = code === "ENOENT" ? `${file} is not installed` : `${file}: ${result.error.message}`;
    return { feature: { ok: false, detail }, stdout: "" };
  }
  if (result.status === 0) return { feature: { ok: true, detail: `${argv.join(" ")} works` }, stdout: result.stdout };
  const why = (result.stderr || result.stdout || "").trim().split("\n").at(-1) ?? "";
  const detail = `${argv.join(" ")} failed (exit ${result.status ?? result.signal})${why ? `: ${why}` : ""}`;
  return { feature: { ok: false, detail }, stdout: result.stdout };
}

// Unprivileged, unshare needs a user namespace to make the others.
function unshare(root: boolean, ...flags: string[]): string[] {
  return ["unshare", ...(root ? [] : ["--user", "--map-root-user"]), ...flags];
}

let engine: ContainerEngine | null = null;

/** Probes docker, then podman (once per process: starting a container takes a while). */
export function probeContainerEngine(): ContainerEngine {
  if (engine !== null) return engine;
  engine = Object.freeze(findContainerEngine());
  return engine;
}

// crun refuses hybrid cgroup layouts (v1 controllers beside an empty v2 tree), where runc with
// cgroupfs still runs: podman is tried as configured, then with those.
const PODMAN_ARGS: readonly (readonly string[])[] = [[], ["--runtime", "runc", "--cgroup-manager", "cgroupfs"]];

function findContainerEngine(): ContainerEngine {
  const reasons: string[] = [];
  // A docker daemon runs containers once it answers; without an image it can run none of its own,
  // so only its answer is probed. The `docker` name may be podman's compatible CLI.
  const docker = runWithOutput(["docker", "info", "--format", "json"], 8000);
  const dockerIsPodman = docker.stdout.includes('"buildahVersion"');
  if (docker.feature.ok && !dockerIsPodman) {
    return { ok: true, detail: "docker can run containers", engine: "docker", cliArgs: [], podman: false };
  }
  reasons.push(dockerIsPodman ? "docker is podman's CLI" : docker.feature.detail);
  // podman proves it by running a container on the host's root (no image, no registry needed).
  // Its default limits (a million open files and processes) exceed some machines' hard limits,
  // where no container starts unless it is given lower ones.
  for (const cliArgs of PODMAN_ARGS) {
    for (const runArgs of [[], workerUlimits()]) {
      const found = run(
        ["podman", ...cliArgs, "run", "--rm", ...runArgs, "--network=none", "--rootfs", "/:O", "true"],
        60_000,
      );
      if (found.ok) {
        const how = [...cliArgs, ...runArgs].join(" ");
        return {
          ok: true,
          detail: `podman can run containers${how === "" ? "" : ` (with ${how})`}`,
          engine: "podman",
          cliArgs,
          podman: true,
          runArgs,
        };
      }
      reasons.push(found.detail);
      if (found.detail.includes("is not installed")) {
        return { ok: false, detail: `no container engine can run containers: ${reasons.join("; ")}`, engine: null };
      }
    }
  }
  return { ok: false, detail: `no container engine can run containers: ${reasons.join("; ")}`, engine: null };
}

// The worker's own open-files limit; processes capped at 4096, which the runtime can always set.
function workerUlimits(): string[] {
  let text = "";
  try {
    text = readFileSync("/proc/self/limits", "utf8");
  } catch {
    // No /proc: the defaults below.
  }
  const match = /^Max open files\s+(\d+)\s+(\d+)/m.exec(text);
  const nofile = match ? `${match[1]}:${match[2]}` : "1024:1024";
  return ["--ulimit", `nofile=${nofile}`, "--ulimit", "nproc=4096:4096"];
}
let probed: IsolationFeatures | null = null;

/** Probes the machine (once per process; `fresh` probes again). */
export function probeIsolation(fresh = false): IsolationFeatures {
  if (probed !== null && !fresh) return probed;
  const root = process.getuid?.() === 0;
  const features: IsolationFeatures = {
    root,
    bubblewrap: run([
      "bwrap",
      "--ro-bind",
      "/",
      "/",
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--unshare-pid",
      "--unshare-net",
      "--unshare-ipc",
      "--die-with-parent",
      "--",
      "true",
    ]),
    userNamespace: run(["unshare", "--user", "--map-root-user", "true"]),
    mountNamespace: run([...unshare(root, "--mount"), "true"]),
    pidNamespace: run([...unshare(root, "--pid", "--fork", "--mount", "--mount-proc"), "true"]),
    netNamespace: run([...unshare(root, "--net"), "true"]),
    loopback: run([...unshare(root, "--net"), "ip", "link", "set", "lo", "up"]),
    setpriv: root
      ? run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "true"])
      : { ok: false, detail: "switching uid needs a worker running as root" },
    cgroups: detectCgroups(),
  };
  probed = Object.freeze(features);
  return probed;
}
