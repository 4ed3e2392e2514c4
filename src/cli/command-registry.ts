import type { Command } from "commander";
import type { CliContext } from "./context.ts";

/** Wraps a command action: builds the context, runs it, records the exit code. */
export type Runner = <A extends unknown[]>(
  action: (ctx: CliContext, ...args: A) => Promise<number>,
) => (...args: unknown[]) => Promise<void>;

/** Adds one command module's commands to the program; main.ts lists every installer. */
export type CommandInstaller = (program: Command, run: Runner) => void;
