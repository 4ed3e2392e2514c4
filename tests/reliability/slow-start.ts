import { type KilnProcess, startKiln } from "../e2e/cli-support.ts";

/**
 * startKiln with a long wait for the ready line: on a machine shared by many jobs, starting a
 * `kiln` process from source can take longer than the usual 30 s.
 */
export function startSlowKiln(args: readonly string[], cwd: string): Promise<KilnProcess> {
  return startKiln(args, cwd, {}, 180_000);
}
