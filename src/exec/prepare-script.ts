import { join } from "node:path";
import { type ResolvedDependencySettings, resolveDependencySettings } from "../config/resolve-script-deps.ts";
import type { ResolvedTaskKind } from "../config/resolved-config.ts";
import { type CacheWorkParams, ContentCache } from "./content-cache.ts";
import { prepareDependencyEnv } from "./dependency-env.ts";
import type { ScriptHost } from "./script-host.ts";
import { fetchScriptSource } from "./script-source.ts";

/** The worker's cache of dependency environments and fetched sources, with its settings. */
export interface ScriptDependencies {
  readonly settings: ResolvedDependencySettings;
  readonly cache: ContentCache;
}

/** The run state key that records the commit a git-sourced script ran at (API and `kiln status --json`). */
export const SOURCE_COMMIT_STATE_KEY = "source_commit";

/** The cache and settings of a worker: `worker.dependencies`, cached under `<dataDir>/cache` by default. */
export function scriptDependencies(settings: ResolvedDependencySettings, dataDir: string): ScriptDependencies {
  return {
    settings,
    cache: new ContentCache({
      root: settings.cacheDirectory ?? join(dataDir, "cache"),
      maxSizeBytes: settings.cacheMaxSizeBytes,
    }),
  };
}

/** The kind an attempt runs, and the release of the cache entries it uses (call when the attempt ends). */
export interface PreparedScript {
  readonly kind: ResolvedTaskKind;
  readonly release: () => void;
}

/** What preparing one attempt needs besides its kind. */
export interface PrepareScriptParams {
  readonly host: ScriptHost;
  /** null: defaults, cached under `<task's directory>/.kiln/cache`. */
  readonly dependencies: ScriptDependencies | null;
  readonly mask: (text: string) => string;
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
  readonly signal?: AbortSignal;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The kind an attempt runs: with `source`, working in the fetched directory (a git commit is
 * logged and saved as run state); with `requirements`, with the cached environments first on
 * PATH and VIRTUAL_ENV / NODE_PATH set. A kind with neither is returned as it is.
 */
export async function prepareScriptKind(kind: ResolvedTaskKind, p: PrepareScriptParams): Promise<PreparedScript> {
  if (kind.requirements === null && kind.scriptSource === null) return { kind, release: () => {} };
  const deps =
    p.dependencies ??
    scriptDependencies(resolveDependencySettings(undefined, kind.taskDir), join(kind.taskDir, ".kiln"));
  const log = (level: "info" | "warning", message: string) => p.host.log(level, message);
  const common: CacheWorkParams = {
    kind: kind.kind,
    cache: deps.cache,
    log,
    mask: p.mask,
    baseEnv: p.baseEnv,
    ...(p.signal ? { signal: p.signal } : {}),
  };
  const releases: (() => void)[] = [];
  const release = () => {
    for (const r of releases) r();
  };
  try {
    const use = (dir: string) => releases.push(deps.cache.useEntry(dir));
    return { kind: await preparedKind(kind, p, deps, common, use), release };
  } catch (error) {
    release();
    throw error;
  }
}

async function preparedKind(
  kind: ResolvedTaskKind,
  p: PrepareScriptParams,
  deps: ScriptDependencies,
  common: CacheWorkParams,
  use: (dir: string) => void,
): Promise<ResolvedTaskKind> {
  const log = common.log;
  let workingDirectory = kind.workingDirectory;
  if (kind.scriptSource !== null) {
    const fetched = await fetchScriptSource({ ...common, source: kind.scriptSource });
    use(fetched.entryDir);
    workingDirectory = fetched.dir;
    if (fetched.commit !== null) {
      log("info", `Running ${kind.kind} at commit ${fetched.commit}`);
      await p.host.setState(SOURCE_COMMIT_STATE_KEY, fetched.commit);
    }
  }
  const env = { ...kind.env };
  if (kind.requirements !== null) {
    const built = await prepareDependencyEnv({ ...common, requirements: kind.requirements, settings: deps.settings });
    for (const dir of built.entries) use(dir);
    Object.assign(env, built.env);
    const path = kind.env.PATH ?? p.baseEnv.PATH ?? DEFAULT_PATH;
    env.PATH = [...built.path, path].join(":");
  }
  return { ...kind, workingDirectory, env };
}
