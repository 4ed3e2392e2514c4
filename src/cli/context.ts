import { ApiClient } from "./api-client.ts";
import { type Output, processOutput } from "./output.ts";
import { type GlobalOptions, resolveTarget } from "./target.ts";

/** What every command gets: its global options, output, and a lazily built API client. */
export interface CliContext {
  readonly options: GlobalOptions;
  readonly output: Output;
  readonly env: NodeJS.ProcessEnv;
  api(): ApiClient;
}

/** Builds the context of one CLI invocation. */
export function createContext(options: GlobalOptions, output: Output = processOutput, env = process.env): CliContext {
  let client: ApiClient | undefined;
  return {
    options,
    output,
    env,
    api: () => {
      client ??= new ApiClient(resolveTarget(options, env));
      return client;
    },
  };
}
