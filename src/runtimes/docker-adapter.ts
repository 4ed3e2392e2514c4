import { execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type ComputeAdapter, NODE_HOST_MAIN, PYTHON_RUNTIME_DIR, wrapChild } from "./compute-adapter.ts";

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
}

/** The Kiln installation, mounted read-only into containers at the same path. */
const KILN_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Runs each workflow host in a container through the docker CLI (`docker run -i --rm`), with
 * Kiln mounted read-only and the workflow directory mounted at the same paths, so the protocol
 * on stdio and the code paths are those of the exec adapter. Used only when `docker info`
 * answers. UNTESTED here: the machine this was written on has no Docker engine. CPU time is not
 * measured from outside the container, so the watchdog counts silence as CPU (see HostLimits).
 */
export function dockerAdapter(options: Readonly<DockerAdapterOptions> = {}): ComputeAdapter {
  const docker = options.docker ?? "docker";
  let availability: Promise<boolean> | undefined;
  return {
    name: "docker",
    available: () => {
      availability ??= new Promise((resolve) => {
        execFile(docker, ["info", "--format", "{{.ServerVersion}}"], { timeout: 5000 }, (error) => resolve(!error));
      });
      return availability;
    },
    spawnHost: (p) => {
      const name = `kiln-host-${randomUUID().slice(0, 12)}`;
      const image =
        p.runtime === "python"
          ? (options.pythonImage ?? "python:3.12-slim")
          : (options.nodeImage ?? `node:${process.versions.node.split(".")[0]}-slim`);
      const command =
        p.runtime === "python"
          ? ["python3", "-u", "-m", "kiln_runtime"]
          : ["node", "--import", import.meta.resolve("tsx"), "--enable-source-maps", NODE_HOST_MAIN];
      const args = [
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
        image,
        ...command,
      ];
      const child = spawn(docker, args, { stdio: ["pipe", "pipe", "pipe"] });
      const kill = () => {
        // The CLI process is only a client: stop the container itself.
        execFile(docker, ["kill", name], () => {});
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
