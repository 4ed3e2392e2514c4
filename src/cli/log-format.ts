import { KilnError } from "../errors.ts";
import { type CreateLoggerOptions, createLogger } from "../server/logger.ts";
import { colorEnabled } from "./terminal-style.ts";

/** `--log-format` of `kiln dev|server|worker`. */
export type LogFormat = "json" | "pretty";

/**
 * How a long-running command logs: `--log-format`, then KILN_LOG_FORMAT, then pretty lines on a
 * terminal and pino's JSON lines otherwise (a log shipper, a pipe, a container runtime). Pretty
 * lines are coloured as the CLI's own output is (a terminal, NO_COLOR, FORCE_COLOR).
 */
export function resolveLogFormat(
  flag: string | undefined,
  isTTY: boolean,
  env: NodeJS.ProcessEnv = process.env,
): Pick<CreateLoggerOptions, "format" | "color"> {
  const given = flag ?? (env.KILN_LOG_FORMAT || undefined);
  if (given !== undefined && given !== "json" && given !== "pretty") {
    throw new KilnError(
      "INVALID_INPUT",
      `Expected --log-format (or KILN_LOG_FORMAT) to be "json" or "pretty", got "${given}"`,
    );
  }
  const format: LogFormat = given ?? (isTTY ? "pretty" : "json");
  return format === "pretty" ? { format, color: colorEnabled(isTTY, env) } : { format };
}

/** The logger of `kiln dev|server|worker` at `level` in the resolved format, on stdout. */
export function processLogger(flag: string | undefined, level: string | undefined): ReturnType<typeof createLogger> {
  return createLogger({ ...resolveLogFormat(flag, Boolean(process.stdout.isTTY)), ...(level ? { level } : {}) });
}
