import type { Command } from "commander";
import type { CliContext } from "./context.ts";

/** Wraps a command action: builds the context, runs it, records the exit code. */
export type Runner = <A extends unknown[]>(
  action: (ctx: CliContext, ...args: A) => Promise<number>,
) => (...args: unknown[]) => Promise<void>;

/** Adds commands to the program (server processes, in-script commands, replay, …). */
export type CommandInstaller = (program: Command, run: Runner) => void;

const installers: CommandInstaller[] = [];

/** Lets CLI modules add their commands; kept apart from main.ts so modules never import it. */
export function registerCommands(installer: CommandInstaller): void {
  installers.push(installer);
}

/** The installers registered so far. */
export function commandInstallers(): readonly CommandInstaller[] {
  return installers;
}
