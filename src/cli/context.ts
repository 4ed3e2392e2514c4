import { ApiClient } from "./api-client.ts";
import { type Output, type OutputFormat, processOutput } from "./output.ts";
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
  const format = outputFormat(options);
  return {
    // `--json` is `-o json`; commands test `options.json` for "machine-readable", whichever format.
    options: { ...options, json: format !== "table" },
    output: { out: output.out, err: output.err, isTTY: output.isTTY, color: output.color ?? false, format },
    env,
    api: () => {
      client ??= new ApiClient(resolveTarget(options, env));
      return client;
    },
  };
}

/** `-o table|json|jsonl` decides; without it `--json` means json, else a table (or text). */
export function outputFormat(options: Pick<GlobalOptions, "json" | "output">): OutputFormat {
  return options.output ?? (options.json ? "json" : "table");
}
