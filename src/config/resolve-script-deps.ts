import { basename, isAbsolute, resolve } from "node:path";
import { parseDuration } from "../engine/duration.ts";
import { KilnError } from "../errors.ts";
import type { DependencySettingsInput, RequirementsInput, ScriptSourceInput } from "./script-deps-schema.ts";

/** One language's requirements: an inline list, or a file read when the environment is built. */
export type RequirementSpec =
  | { readonly type: "list"; readonly packages: readonly string[] }
  | { readonly type: "file"; readonly path: string };

/** A task kind's requirements by language (null: none for that language). */
export interface ResolvedRequirements {
  readonly python: RequirementSpec | null;
  readonly node: RequirementSpec | null;
}

/** Where a task kind's script files come from. */
export type ResolvedScriptSource =
  | {
      readonly type: "git";
      readonly repository: string;
      readonly pin: { readonly commit: string } | { readonly tag: string } | { readonly branch: string };
      /** With a branch: how long a resolved commit is reused (ms); null for commit and tag pins. */
      readonly refreshMs: number | null;
    }
  | { readonly type: "http"; readonly url: string; readonly sha256: string; readonly file: string }
  | {
      readonly type: "s3";
      readonly bucket: string;
      readonly key: string;
      readonly sha256: string;
      readonly endpoint: string | null;
      readonly region: string | null;
      readonly forcePathStyle: boolean;
      readonly file: string;
    };

/** The worker's settings of dependency environments and fetched sources. */
export interface ResolvedDependencySettings {
  /** Absolute cache directory, or null for `<data directory>/cache`. */
  readonly cacheDirectory: string | null;
  readonly cacheMaxSizeBytes: number;
  readonly python: string;
  /** pip's index (null: PIP_INDEX_URL of the worker's environment, else pip's default). */
  readonly pipIndexUrl: string | null;
  readonly pipFindLinks: readonly string[];
  readonly npmRegistry: string | null;
}

/** Defaults of `worker.dependencies`. */
export const DEPENDENCY_DEFAULTS = Object.freeze({ cacheMaxSizeMb: 2048, python: "/usr/bin/python3" });

/** Resolves `worker.dependencies` (relative paths against the config's directory). */
export function resolveDependencySettings(
  input: DependencySettingsInput | undefined,
  baseDir: string,
): ResolvedDependencySettings {
  const d = input ?? {};
  const local = (p: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) || isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    cacheDirectory: d.cache_directory === undefined ? null : resolve(baseDir, d.cache_directory),
    cacheMaxSizeBytes: Math.round((d.cache_max_size_mb ?? DEPENDENCY_DEFAULTS.cacheMaxSizeMb) * 1024 * 1024),
    python: d.python ?? DEPENDENCY_DEFAULTS.python,
    pipIndexUrl: d.pip_index_url ?? null,
    pipFindLinks: (d.pip_find_links ?? []).map(local),
    npmRegistry: d.npm_registry ?? null,
  };
}

/** Which language a bare requirements list is for, from the command that runs the script. */
function languageOf(command: string, shell: boolean): "python" | "node" | null {
  if (shell) return null;
  const name = basename(command);
  if (/^python(\d+(\.\d+)?)?$/.test(name)) return "python";
  if (/^(node|tsx|ts-node)$/.test(name)) return "node";
  return null;
}

function spec(value: string | readonly string[], baseDir: string): RequirementSpec {
  return typeof value === "string"
    ? { type: "file", path: resolve(baseDir, value) }
    : { type: "list", packages: [...value] };
}

/** Resolves `requirements`: a bare list takes its language from the command, a path from its file name. */
export function resolveRequirements(
  input: RequirementsInput | undefined,
  p: Readonly<{ kind: string; command: string; shell: boolean; baseDir: string }>,
): ResolvedRequirements | null {
  if (input === undefined) return null;
  if (typeof input === "string") {
    const node = basename(input) === "package.json";
    const one = spec(input, p.baseDir);
    return { python: node ? null : one, node: node ? one : null };
  }
  if (Array.isArray(input)) {
    const language = languageOf(p.command, p.shell);
    if (language === null) {
      throw new KilnError(
        "INVALID_CONFIG",
        `The task kind ${p.kind}: cannot tell whether requirements are Python or Node packages from the command "${p.command}"; write requirements: { python: [...] } or { node: [...] }`,
      );
    }
    const one = spec(input, p.baseDir);
    return { python: language === "python" ? one : null, node: language === "node" ? one : null };
  }
  const byLanguage = input as { python?: string | string[]; node?: string | string[] };
  return {
    python: byLanguage.python === undefined ? null : spec(byLanguage.python, p.baseDir),
    node: byLanguage.node === undefined ? null : spec(byLanguage.node, p.baseDir),
  };
}

const lastSegment = (path: string, what: string, kind: string): string => {
  const name = decodeURIComponent(path.split("/").filter(Boolean).pop() ?? "");
  if (name === "" || name === "." || name === ".." || name.includes("/")) {
    throw new KilnError(
      "INVALID_CONFIG",
      `The task kind ${kind}: the ${what} has no file name to save the script under; add source.file`,
    );
  }
  return name;
};

/** Resolves `source` (a relative git path is relative to the config's directory). */
export function resolveScriptSource(
  input: ScriptSourceInput | undefined,
  p: Readonly<{ kind: string; baseDir: string; workingDirectory: string | null }>,
): ResolvedScriptSource | null {
  if (input === undefined) return null;
  if (p.workingDirectory !== null) {
    throw new KilnError(
      "INVALID_CONFIG",
      `The task kind ${p.kind}: a script with source runs in the fetched directory; remove working_directory`,
    );
  }
  if (input.git !== undefined) {
    const local = !/^[a-z][a-z0-9+.-]*:\/\//i.test(input.git) && !/^[^/]+@[^/]+:/.test(input.git);
    const pin =
      input.commit !== undefined
        ? { commit: input.commit.toLowerCase() }
        : input.tag !== undefined
          ? { tag: input.tag }
          : { branch: input.branch as string };
    return {
      type: "git",
      repository: local ? resolve(p.baseDir, input.git) : input.git,
      pin,
      refreshMs: input.refresh === undefined ? null : parseDuration(refreshText(input.refresh), "source.refresh"),
    };
  }
  // The schema checked that url and s3 sources have a sha256.
  const sha256 = (input.sha256 as string).toLowerCase();
  if (input.url !== undefined) {
    return {
      type: "http",
      url: input.url,
      sha256,
      file: input.file ?? lastSegment(new URL(input.url).pathname, "URL", p.kind),
    };
  }
  const [, bucket = "", key = ""] = /^s3:\/\/([^/]+)\/(.+)$/.exec(input.s3 ?? "") ?? [];
  return {
    type: "s3",
    bucket,
    key,
    sha256,
    endpoint: input.endpoint ?? null,
    region: input.region ?? null,
    forcePathStyle: input.force_path_style ?? input.endpoint !== undefined,
    file: input.file ?? lastSegment(key, "S3 key", p.kind),
  };
}

// A bare number of refresh is seconds, as every other duration key of a task kind.
const refreshText = (value: number | string): string => (typeof value === "number" ? `${value}s` : value);
