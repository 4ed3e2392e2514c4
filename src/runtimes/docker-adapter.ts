import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import {
  type ComputeAdapter,
  defaultPython,
  NODE_HOST_MAIN,
  PYTHON_RUNTIME_DIR,
  wrapChild,
} from "./compute-adapter.ts";

/** Options of the docker adapter. */
export interface DockerAdapterOptions {
  /** The docker CLI. Default `docker`. */
  readonly docker?: string;
  /** Image of Node hosts. Default `node:<major of this Node>-slim`. */
  readonly nodeImage?: string;
  /** Image of Python hosts. Default `python:3.12-slim`. */
  readonly pythonImage?: string;
  /** Extra `docker run` arguments (`--memory=512m`, `--cpus=1`, `--network=…`). */
  readonly runArgs?: readonly string[];
  /** Arguments before the subcommand (podman's `--runtime runc`, docker's `--context x`). */
  readonly cliArgs?: readonly string[];
  /**
   * podman only: a directory used as the container's root filesystem (an overlay over it, so
   * the container cannot change it) instead of an image; hosts then run this machine's Node and
   * Python. For machines without a registry, and for tests.
   */
  readonly rootfs?: string;
}

/** The Kiln installation, mounted read-only into containers at the same path. */
const KILN_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Runs each workflow host in a container through a Docker-compatible CLI (`docker` or `podman`
 * `run -i --rm`), with Kiln mounted read-only and the workflow directory mounted at the same
 * paths, so the protocol on stdio and the code paths are those of the exec adapter. CPU time is
 * not measured from outside the container, so the watchdog counts silence as CPU (see
 * HostLimits).
 */
export function dockerAdapter(options: Readonly<DockerAdapterOptions> = {}): ComputeAdapter {
  const docker = options.docker ?? "docker";
  const cliArgs = options.cliArgs ?? [];
  let availability: Promise<boolean> | undefined;
  return {
    name: "docker",
    available: () => {
      availability ??= new Promise((resolve) => {
        execFile(docker, [...cliArgs, "info"], { timeout: 15_000 }, (error) => resolve(!error));
      });
      return availability;
    },
    spawnHost: (p) => {
      const name = `kiln-host-${randomUUID().slice(0, 12)}`;
      const image =
        p.runtime === "python"
          ? (options.pythonImage ?? "python:3.12-slim")
          : (options.nodeImage ?? `node:${process.versions.node.split(".")[0]}-slim`);
      // On this machine's root filesystem, the interpreters are this machine's.
      const [python, node] = options.rootfs ? [defaultPython(), process.execPath] : ["python3", "node"];
      const command =
        p.runtime === "python"
          ? [python, "-u", "-m", "kiln_runtime"]
          : [node, "--import", import.meta.resolve("tsx"), "--enable-source-maps", NODE_HOST_MAIN];
      const args = [
        ...cliArgs,
        "run",
        "-i",
        "--rm",
        "--init",
        "--name",
        name,
        "-v",
        `${KILN_ROOT}:${KILN_ROOT}:ro`,
        "-v",
        `${p.directory}:${p.directory}`,
        "-w",
        p.directory,
        "-e",
        `PYTHONPATH=${PYTHON_RUNTIME_DIR}`,
        "-e",
        "PYTHONIOENCODING=utf-8",
        "-e",
        "PYTHONDONTWRITEBYTECODE=1",
        ...(options.runArgs ?? []),
        ...(options.rootfs ? ["--rootfs", `${options.rootfs}:O`] : [image]),
        ...command,
      ];
      const child = spawn(docker, args, { stdio: ["pipe", "pipe", "pipe"] });
      const kill = () => {
        // The CLI process is only a client: stop the container itself.
        execFile(docker, [...cliArgs, "kill", name], () => {});
        child.kill("SIGKILL");
      };
      return wrapChild(child, kill, false);
    },
  };
}

/** The docker adapter when an engine answers, else undefined (the exec adapter stays). */
export async function dockerAdapterIfAvailable(
  options: Readonly<DockerAdapterOptions> = {},
): Promise<ComputeAdapter | undefined> {
  const adapter = dockerAdapter(options);
  return (await adapter.available()) ? adapter : undefined;
}
