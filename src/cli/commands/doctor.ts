import type { Command } from "commander";
import { NO_SANDBOX } from "../../config/resolve-sandbox.ts";
import { SANDBOX_NETWORKS, SANDBOX_PROFILES } from "../../config/sandbox-schema.ts";
import { type Feature, probeContainerEngine, probeIsolation } from "../../exec/sandbox/isolation-probe.ts";
import { missingIsolation } from "../../exec/sandbox/sandbox-check.ts";
import type { Runner } from "../command-registry.ts";
import type { CliContext } from "../context.ts";
import { printJson } from "../output.ts";

/**
 * `kiln doctor`: which isolation features work on this machine, each probed by really using it,
 * and which sandbox profiles (with each network mode) a task kind may therefore ask for here.
 */
export async function doctorCommand(ctx: CliContext): Promise<number> {
  const features = probeIsolation(true);
  const containers = probeContainerEngine();
  const cgroups = features.cgroups;
  const rows: [string, Feature][] = [
    ["bubblewrap", features.bubblewrap],
    ["user namespace", features.userNamespace],
    ["mount namespace", features.mountNamespace],
    ["pid namespace", features.pidNamespace],
    ["network namespace", features.netNamespace],
    ["loopback in a network namespace", features.loopback],
    ["run as another uid (setpriv)", features.setpriv],
    ["containers (docker/podman)", containers],
  ];
  for (const controller of ["memory", "cpu", "pids"] as const) {
    const parent = cgroups.parents[controller];
    rows.push([
      `cgroup ${controller} limit`,
      parent === null
        ? { ok: false, detail: `not writable (${cgroups.summary})` }
        : { ok: true, detail: `cgroup v${cgroups.version}, groups made under ${parent}` },
    ]);
  }
  const profiles = SANDBOX_PROFILES.flatMap((profile) =>
    (profile === "none" ? (["on"] as const) : SANDBOX_NETWORKS).map((network) => {
      const missing = missingIsolation({ ...NO_SANDBOX, profile, network }, features, () => containers);
      return { profile, network, ok: missing.length === 0, missing };
    }),
  );
  if (ctx.options.json) {
    printJson(ctx.output, {
      root: features.root,
      cgroups: { version: cgroups.version, summary: cgroups.summary, writable: cgroups.parents },
      features: Object.fromEntries(rows.map(([name, f]) => [name, f])),
      profiles,
    });
    return 0;
  }
  ctx.output.out(`Isolation features (probed as ${features.root ? "root" : `uid ${process.getuid?.()}`}):`);
  ctx.output.out(`  ${cgroups.summary}`);
  for (const [name, feature] of rows) ctx.output.out(`  ${feature.ok ? "ok  " : "no  "} ${name}: ${feature.detail}`);
  ctx.output.out("Sandbox profiles a task kind can use here:");
  for (const p of profiles) {
    const label = p.profile === "none" ? "none" : `${p.profile}, network ${p.network}`;
    ctx.output.out(`  ${p.ok ? "ok  " : "no  "} ${label}${p.ok ? "" : `: ${p.missing.join("; ")}`}`);
  }
  return 0;
}

/** Adds `kiln doctor`: which isolation features work here. */
export function installDoctorCommand(program: Command, run: Runner): void {
  program
    .command("doctor")
    .description("print which isolation features (bubblewrap, namespaces, cgroups, containers) work on this machine")
    .action(run((ctx) => doctorCommand(ctx)));
}
