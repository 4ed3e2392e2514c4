import { spawnSync } from "node:child_process";
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
  readonly engine: string | null;
}

function run(argv: readonly string[], timeoutMs = 10_000): Feature {
  const [file, ...args] = argv as [string, ...string[]];
  const result = spawnSync(file, args, { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    return { ok: false, detail: code === "ENOENT" ? `${file} is not installed` : `${file}: ${result.error.message}` };
  }
  if (result.status === 0) return { ok: true, detail: `${argv.join(" ")} works` };
  const why = (result.stderr || result.stdout || "").trim().split("\n").at(-1) ?? "";
  return {
    ok: false,
    detail: `${argv.join(" ")} failed (exit ${result.status ?? result.signal})${why ? `: ${why}` : ""}`,
  };
}

// Unprivileged, unshare needs a user namespace to make the others.
function unshare(root: boolean, ...flags: string[]): string[] {
  return ["unshare", ...(root ? [] : ["--user", "--map-root-user"]), ...flags];
}

let engine: ContainerEngine | null = null;

/** Probes docker, then podman (once per process: `docker info` takes a while). */
export function probeContainerEngine(): ContainerEngine {
  if (engine !== null) return engine;
  engine = Object.freeze(findContainerEngine());
  return engine;
}

function findContainerEngine(): ContainerEngine {
  const reasons: string[] = [];
  for (const name of ["docker", "podman"]) {
    const found = run([name, "info", "--format", "json"], 8000);
    if (found.ok) return { ok: true, detail: `${name} can run containers`, engine: name };
    reasons.push(found.detail);
  }
  return { ok: false, detail: `no container engine can run containers: ${reasons.join("; ")}`, engine: null };
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
