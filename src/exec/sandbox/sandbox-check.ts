import type { ResolvedSandbox } from "../../config/resolve-sandbox.ts";
import { KilnError } from "../../errors.ts";
import { neededControllers } from "./cgroups.ts";
import type { ContainerEngine, Feature, IsolationFeatures } from "./isolation-probe.ts";

/**
 * What a sandbox needs that this machine lacks, one reason per missing feature (empty: it can
 * run here). Nothing falls back: a kind whose sandbox cannot be honoured is refused at load.
 */
export function missingIsolation(
  sandbox: ResolvedSandbox,
  features: IsolationFeatures,
  containers: () => ContainerEngine,
): string[] {
  const missing: string[] = [];
  const need = (feature: Feature, what: string) => {
    if (!feature.ok) missing.push(`${what}: ${feature.detail}`);
  };
  switch (sandbox.profile) {
    case "none":
      return [];
    case "bubblewrap":
      need(features.bubblewrap, "bubblewrap (install the bubblewrap package)");
      if (sandbox.network === "off") need(features.netNamespace, "network off (a network namespace via unshare)");
      break;
    case "namespaces":
      need(features.mountNamespace, "a mount namespace");
      need(features.pidNamespace, "a pid namespace");
      if (sandbox.network !== "on") need(features.netNamespace, `network ${sandbox.network} (a network namespace)`);
      if (sandbox.network === "loopback")
        need(features.loopback, "network loopback (ip link set lo up, from iproute2)");
      break;
    case "docker": {
      // The engine makes the container's namespaces and cgroups, and switches uid itself.
      const engine = containers();
      if (!engine.ok) missing.push(`a container engine: ${engine.detail}`);
      else if (sandbox.image === null && engine.podman !== true) {
        missing.push(
          `an image: ${engine.engine} cannot run a container on the host's root filesystem (only podman can); set the sandbox's image`,
        );
      }
      if (sandbox.uid !== null && !features.root) {
        missing.push(
          `uid ${sandbox.uid}: the attempt's files are handed to that uid, which needs a worker running as root`,
        );
      }
      return missing;
    }
  }
  if (sandbox.uid !== null) need(features.setpriv, `uid ${sandbox.uid} (setpriv, as root)`);
  for (const controller of neededControllers(sandbox)) {
    if (features.cgroups.parents[controller] === null) {
      const option = controller === "memory" ? "memory" : controller === "cpu" ? "cpus" : "pids";
      missing.push(
        `the ${option} limit: the ${controller} cgroup controller is not writable here (${features.cgroups.summary})`,
      );
    }
  }
  return missing;
}

/** Throws SANDBOX_UNAVAILABLE naming the kind, its profile and every missing feature. */
export function checkSandbox(
  kind: string,
  sandbox: ResolvedSandbox,
  features: IsolationFeatures,
  containers: () => ContainerEngine,
): void {
  const missing = missingIsolation(sandbox, features, containers);
  if (missing.length === 0) return;
  throw new KilnError(
    "SANDBOX_UNAVAILABLE",
    `The task kind ${kind} asks for the ${sandbox.profile} sandbox, which this machine cannot honour: ${missing.join("; ")}. ` +
      "Run `kiln doctor` to see what works here; change the kind's sandbox (or the worker default), or run it on a worker that has these",
    { data: { kind, profile: sandbox.profile, missing } },
  );
}
