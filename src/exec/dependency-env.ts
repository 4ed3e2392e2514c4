import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, realpath, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type {
  RequirementSpec,
  ResolvedDependencySettings,
  ResolvedRequirements,
} from "../config/resolve-script-deps.ts";
import { KilnError } from "../errors.ts";
import type { CacheWorkParams } from "./content-cache.ts";
import { type InstallerCommand, runInstaller } from "./installer-process.ts";

/** What the script's environment gains from its dependency environments. */
export interface DependencyEnv {
  /** Directories put first on PATH (the venv's bin, node_modules/.bin). */
  readonly path: readonly string[];
  /** VIRTUAL_ENV, NODE_PATH. */
  readonly env: Readonly<Record<string, string>>;
  /** The cache entries the environment lives in. */
  readonly entries: readonly string[];
}

/** What building the environments of one attempt needs. */
export interface DependencyEnvParams extends CacheWorkParams {
  readonly requirements: ResolvedRequirements;
  readonly settings: ResolvedDependencySettings;
}

/** Builds (once per content hash) or reuses the Python and Node environments of a task kind. */
export async function prepareDependencyEnv(p: DependencyEnvParams): Promise<DependencyEnv> {
  const path: string[] = [];
  const env: Record<string, string> = {};
  const entries: string[] = [];
  if (p.requirements.python) {
    const venv = await pythonEnv(p, p.requirements.python);
    entries.push(dirname(venv));
    path.push(join(venv, "bin"));
    env.VIRTUAL_ENV = venv;
  }
  if (p.requirements.node) {
    const modules = await nodeEnv(p, p.requirements.node);
    entries.push(dirname(modules));
    path.push(join(modules, ".bin"));
    env.NODE_PATH = modules;
  }
  return { path, env, entries };
}

const hash = (value: unknown): string => createHash("sha256").update(JSON.stringify(value)).digest("hex");

async function readRequirementFile(path: string, kind: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    throw new KilnError(
      "INVALID_CONFIG",
      `The task kind ${kind}: cannot read its requirements file ${path} (${(cause as Error).message}); requirements paths are relative to the config file`,
      { retryable: false, cause },
    );
  }
}

function installer(p: DependencyEnvParams, what: string): Omit<InstallerCommand, "argv" | "cwd"> {
  return {
    env: { ...p.baseEnv, VIRTUAL_ENV: undefined, PYTHONPATH: undefined, NODE_PATH: undefined },
    onLine: (line) => p.log("info", `[${what}] ${line}`),
    mask: p.mask,
    ...(p.signal ? { signal: p.signal } : {}),
    failureCode: "DEPENDENCY_BUILD_FAILED",
    what,
    retryable: false,
  };
}

/** Builds or reuses a venv; returns its directory. */
async function pythonEnv(p: DependencyEnvParams, spec: RequirementSpec): Promise<string> {
  const text = spec.type === "list" ? `${spec.packages.join("\n")}\n` : await readRequirementFile(spec.path, p.kind);
  const python = await realpath(p.settings.python).catch(() => p.settings.python);
  const indexUrl = p.settings.pipIndexUrl ?? p.baseEnv.PIP_INDEX_URL ?? null;
  const findLinks = p.settings.pipFindLinks;
  const key = hash({ language: "python", python, text, indexUrl, findLinks });
  const entry = await p.cache.ensureEntry({
    area: "python",
    key,
    ...(p.signal ? { signal: p.signal } : {}),
    onWait: () => p.log("info", `Waiting for another build of the Python environment ${key.slice(0, 12)}`),
    build: async (dir) => {
      p.log("info", `Building the Python environment ${key.slice(0, 12)} with ${python}`);
      const started = Date.now();
      const venv = join(dir, "venv");
      const venvPython = join(venv, "bin", "python");
      const requirementsFile = join(dir, "requirements.txt");
      await writeFile(requirementsFile, text);
      // A venv without pip, filled by the interpreter's own pip through --python, takes a fraction
      // of a second; bootstrapping pip into every venv (ensurepip) takes several.
      const hostPip = await hasPip(p, python);
      await runInstaller({
        ...installer(p, "python -m venv"),
        argv: [python, "-m", "venv", ...(hostPip ? ["--without-pip"] : []), venv],
      });
      const pip = hostPip ? [python, "-m", "pip", "--python", venvPython] : [venvPython, "-m", "pip"];
      await runInstaller({
        ...installer(p, "pip install"),
        // Relative paths in a requirements file (`./pkg`, `-e ../lib`) mean what they mean beside it.
        cwd: spec.type === "file" ? dirname(spec.path) : dir,
        argv: [
          pip[0] as string,
          ...pip.slice(1),
          "install",
          "--disable-pip-version-check",
          "--no-input",
          "--no-warn-script-location",
          ...(indexUrl === null ? [] : ["--index-url", indexUrl]),
          ...findLinks.flatMap((link) => ["--find-links", link]),
          "-r",
          requirementsFile,
        ],
      });
      return { language: "python", python, buildMs: Date.now() - started };
    },
  });
  if (entry.built) p.log("info", `Built the Python environment ${key.slice(0, 12)} in ${entry.meta.buildMs} ms`);
  else p.log("info", `Using the cached Python environment ${key.slice(0, 12)}`);
  return join(entry.dir, "venv");
}

async function hasPip(p: DependencyEnvParams, python: string): Promise<boolean> {
  try {
    await runInstaller({
      ...installer(p, "pip --version"),
      argv: [python, "-m", "pip", "--version"],
      onLine: () => {},
    });
    return true;
  } catch {
    return false;
  }
}

/** Builds or reuses a node_modules directory; returns its path. */
async function nodeEnv(p: DependencyEnvParams, spec: RequirementSpec): Promise<string> {
  let manifest: string;
  let lock: string | null = null;
  let packages: readonly string[] = [];
  if (spec.type === "file") {
    const raw = await readRequirementFile(spec.path, p.kind);
    manifest = absoluteFileSpecs(raw, dirname(spec.path), p.kind);
    const lockPath = join(dirname(spec.path), "package-lock.json");
    // A lock with rewritten file: paths would no longer match its manifest.
    if (manifest === raw && existsSync(lockPath)) lock = await readFile(lockPath, "utf8");
  } else {
    manifest = `${JSON.stringify({ name: "kiln-script-deps", private: true })}\n`;
    packages = spec.packages;
  }
  const registry = p.settings.npmRegistry;
  const key = hash({ language: "node", node: process.versions.node.split(".")[0], manifest, lock, packages, registry });
  const entry = await p.cache.ensureEntry({
    area: "node",
    key,
    ...(p.signal ? { signal: p.signal } : {}),
    onWait: () => p.log("info", `Waiting for another build of the Node environment ${key.slice(0, 12)}`),
    build: async (dir) => {
      p.log("info", `Building the Node environment ${key.slice(0, 12)}`);
      const started = Date.now();
      await writeFile(join(dir, "package.json"), manifest);
      if (lock !== null) await writeFile(join(dir, "package-lock.json"), lock);
      const npm = lock !== null && packages.length === 0 ? ["ci"] : ["install", ...packages];
      await runInstaller({
        ...installer(p, `npm ${npm[0]}`),
        cwd: dir,
        argv: [
          "npm",
          ...npm,
          "--no-audit",
          "--no-fund",
          "--no-update-notifier",
          ...(registry === null ? [] : ["--registry", registry]),
        ],
      });
      return { language: "node", buildMs: Date.now() - started };
    },
  });
  if (entry.built) p.log("info", `Built the Node environment ${key.slice(0, 12)} in ${entry.meta.buildMs} ms`);
  else p.log("info", `Using the cached Node environment ${key.slice(0, 12)}`);
  return join(entry.dir, "node_modules");
}

/**
 * A package.json's relative `file:` dependencies made absolute: the manifest is installed from
 * the cache, not from its own directory.
 */
export function absoluteFileSpecs(manifest: string, from: string, kind: string): string {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(manifest) as Record<string, unknown>;
  } catch (cause) {
    throw new KilnError("INVALID_CONFIG", `The task kind ${kind}: its package.json is not JSON`, {
      retryable: false,
      cause,
    });
  }
  let changed = false;
  for (const field of ["dependencies", "optionalDependencies", "devDependencies"]) {
    const deps = parsed[field];
    if (deps === null || typeof deps !== "object") continue;
    for (const [name, version] of Object.entries(deps as Record<string, unknown>)) {
      if (typeof version !== "string" || !version.startsWith("file:")) continue;
      const target = version.slice("file:".length);
      if (isAbsolute(target)) continue;
      (deps as Record<string, string>)[name] = `file:${resolve(from, target)}`;
      changed = true;
    }
  }
  return changed ? `${JSON.stringify(parsed, null, 2)}\n` : manifest;
}
