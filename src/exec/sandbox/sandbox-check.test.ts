import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../config/load-config.ts";
import { NO_SANDBOX } from "../../config/resolve-sandbox.ts";
import { KilnError } from "../../errors.ts";
import { Registry } from "../../worker/registry.ts";
import { hideContainerEngines } from "../../../tests/support/no-container-engine.ts";
import { registerScriptKinds } from "../script-kinds.ts";
import type { IsolationFeatures } from "./isolation-probe.ts";
import { checkSandbox, missingIsolation } from "./sandbox-check.ts";

const no = (detail: string) => ({ ok: false, detail });
const yes = { ok: true, detail: "works" };
const bare: IsolationFeatures = {
  root: false,
  bubblewrap: no("bwrap is not installed"),
  userNamespace: no("disabled"),
  mountNamespace: no("disabled"),
  pidNamespace: no("disabled"),
  netNamespace: no("disabled"),
  loopback: no("disabled"),
  setpriv: no("needs root"),
  cgroups: {
    version: 2,
    parents: { memory: null, cpu: null, pids: null },
    summary: "cgroups: v2, writable controllers: none",
  },
};
const noEngine = () => ({ ok: false, detail: "no container engine can run containers", engine: null });

describe("sandbox check at load", () => {
  test("a machine without the features refuses each profile, naming what is missing", () => {
    assert.deepEqual(missingIsolation(NO_SANDBOX, bare, noEngine), []);
    assert.match(
      missingIsolation({ ...NO_SANDBOX, profile: "bubblewrap", network: "on" }, bare, noEngine).join(),
      /bwrap is not installed/,
    );
    const ns = missingIsolation(
      { ...NO_SANDBOX, profile: "namespaces", network: "loopback", memoryBytes: 1 << 26 },
      bare,
      noEngine,
    );
    assert.ok(ns.some((m) => /mount namespace/.test(m)));
    assert.ok(ns.some((m) => /loopback/.test(m)));
    assert.ok(ns.some((m) => /memory limit: the memory cgroup controller is not writable/.test(m)));
    assert.match(missingIsolation({ ...NO_SANDBOX, profile: "docker" }, bare, noEngine).join(), /no container engine/);
    // With an engine, the docker profile needs nothing else of the machine (the engine makes its
    // namespaces and cgroups); a docker daemon needs an image, podman runs the host's root.
    const docker = () => ({ ok: true, detail: "docker can run containers", engine: "docker", podman: false });
    const podman = () => ({ ok: true, detail: "podman can run containers", engine: "podman", podman: true });
    const limited = { ...NO_SANDBOX, profile: "docker" as const, memoryBytes: 1 << 26, pids: 10 };
    assert.deepEqual(missingIsolation(limited, bare, podman), []);
    assert.match(
      missingIsolation(limited, bare, docker).join(),
      /an image: docker cannot run a container on the host's root/,
    );
    assert.deepEqual(missingIsolation({ ...limited, image: "alpine" }, bare, docker), []);
    assert.match(
      missingIsolation({ ...limited, uid: 1000 }, bare, podman).join(),
      /uid 1000: .*worker running as root/,
    );
    assert.deepEqual(missingIsolation({ ...limited, uid: 1000 }, { ...bare, root: true }, podman), []);
    const full = { ...bare, bubblewrap: yes, netNamespace: yes };
    assert.deepEqual(missingIsolation({ ...NO_SANDBOX, profile: "bubblewrap" }, full, noEngine), []);
    assert.match(
      missingIsolation({ ...NO_SANDBOX, profile: "bubblewrap", uid: 1000 }, full, noEngine).join(),
      /uid 1000/,
    );
    assert.throws(
      () => checkSandbox("backup", { ...NO_SANDBOX, profile: "bubblewrap", pids: 10 }, bare, noEngine),
      (error: unknown) =>
        error instanceof KilnError &&
        error.code === "SANDBOX_UNAVAILABLE" &&
        /The task kind backup asks for the bubblewrap sandbox/.test(error.message) &&
        /pids limit/.test(error.message) &&
        /kiln doctor/.test(error.message),
    );
  });

  test("registering a kind this machine cannot sandbox fails with SANDBOX_UNAVAILABLE and registers nothing", () => {
    // With no container engine on PATH (probed once per process, here first), the docker profile
    // cannot run: the worker refuses it at load.
    hideContainerEngines();
    const config = parseConfig(
      "tasks:\n  - { kind: fine, command: echo }\n  - { kind: boxed, command: echo, sandbox: { profile: docker, image: alpine } }\n",
      { env: {} },
    );
    const registry = new Registry();
    assert.throws(() => registerScriptKinds(registry, config.tasks, { baseDir: process.cwd() }), {
      code: "SANDBOX_UNAVAILABLE",
    });
    assert.equal(registry.tasks().length, 0);
    const defaulted = parseConfig(
      "worker: { sandbox: { profile: docker } }\ntasks:\n  - { kind: a, command: echo }\n",
      { env: {} },
    );
    assert.throws(
      () =>
        registerScriptKinds(new Registry(), defaulted.tasks, {
          baseDir: process.cwd(),
          sandbox: defaulted.worker.sandbox,
        }),
      /task kind a asks for the docker sandbox/,
    );
  });
});
