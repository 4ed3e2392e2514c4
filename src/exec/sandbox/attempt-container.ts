import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { MEMORY_MARKER } from "./container-argv.ts";

/** How long one `kill` or `rm` of the engine may take before it is given up on. */
const ENGINE_CALL_MS = 30_000;

function engineCall(engine: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    execFile(engine, [...args], { timeout: ENGINE_CALL_MS }, () => resolve());
  });
}

/**
 * The container of one sandboxed attempt. The engine's CLI is only a client: killing its process
 * group (timeout, cancel) leaves the container running, so the container is killed by name too.
 */
export class AttemptContainer {
  readonly #engine: string;
  readonly #cliArgs: readonly string[];
  readonly #attemptDir: string;
  /** The container's unique name. */
  readonly name: string;

  constructor(p: Readonly<{ engine: string; cliArgs: readonly string[]; name: string; attemptDir: string }>) {
    this.#engine = p.engine;
    this.#cliArgs = p.cliArgs;
    this.name = p.name;
    this.#attemptDir = p.attemptDir;
  }

  /** Whether the kernel killed a process of the container at its memory limit (read before the attempt's files go). */
  memoryLimitHit(): boolean {
    return existsSync(join(this.#attemptDir, MEMORY_MARKER));
  }

  /**
   * Kills and removes the container (a no-op answer when `--rm` already removed it): `kill` first,
   * since `rm -f` of some engines waits a stop timeout with SIGTERM before it kills.
   */
  async remove(): Promise<void> {
    await engineCall(this.#engine, [...this.#cliArgs, "kill", this.name]);
    await engineCall(this.#engine, [...this.#cliArgs, "rm", "-f", this.name]);
  }
}
