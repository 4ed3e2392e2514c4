import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { probeContainerEngine } from "../../src/exec/sandbox/isolation-probe.ts";

/**
 * Makes this process find no container engine: the probe runs once per process, here with an
 * empty PATH, so that the docker profile is refused at load on any machine (tests of refusals).
 * Call it before anything else probes.
 */
export function hideContainerEngines(): void {
  const path = process.env.PATH;
  const empty = mkdtempSync(join(tmpdir(), "kiln-no-engine-"));
  process.env.PATH = empty;
  try {
    if (probeContainerEngine().ok) throw new Error("the container engine was probed before the PATH was emptied");
  } finally {
    process.env.PATH = path;
    rmSync(empty, { recursive: true, force: true });
  }
}
