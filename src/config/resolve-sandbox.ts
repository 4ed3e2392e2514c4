import { resolve } from "node:path";
import { KilnError } from "../errors.ts";
import type { SandboxInput, SandboxNetwork, SandboxProfile } from "./sandbox-schema.ts";

/** A sandbox, resolved: absolute paths, bytes, every option defaulted. */
export interface ResolvedSandbox {
  readonly profile: SandboxProfile;
  readonly readOnlyRoot: boolean;
  /** Absolute paths the script may write besides its attempt files. */
  readonly writablePaths: readonly string[];
  /** Absolute paths replaced by an empty directory (the worker adds its data directory). */
  readonly hiddenPaths: readonly string[];
  readonly privateTmp: boolean;
  readonly network: SandboxNetwork;
  readonly memoryBytes: number | null;
  readonly cpus: number | null;
  readonly pids: number | null;
  readonly uid: number | null;
  readonly gid: number | null;
  readonly image: string | null;
}

/** No sandbox: the script runs as the worker's child, unconfined. */
export const NO_SANDBOX: ResolvedSandbox = Object.freeze({
  profile: "none",
  readOnlyRoot: true,
  writablePaths: Object.freeze([]) as readonly string[],
  hiddenPaths: Object.freeze([]) as readonly string[],
  privateTmp: true,
  network: "off",
  memoryBytes: null,
  cpus: null,
  pids: null,
  uid: null,
  gid: null,
  image: null,
});

const UNITS: Readonly<Record<string, number>> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Bytes of a memory size as written ("256M", "1.5G", 1048576). */
export function parseMemorySize(value: number | string): number {
  if (typeof value === "number") return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgKMG]?)i?[bB]?\s*$/.exec(value);
  if (!match) throw new KilnError("INVALID_CONFIG", `Expected a memory size like "256M", got "${value}"`);
  return Math.round(Number(match[1]) * (UNITS[(match[2] ?? "").toLowerCase()] ?? 1));
}

/**
 * Resolves a `sandbox:` value over a base (the worker's default): options the value gives win,
 * the others come from the base. A bare profile name keeps the base's options.
 */
export function resolveSandbox(
  input: SandboxInput,
  baseDir: string,
  base: ResolvedSandbox = NO_SANDBOX,
): ResolvedSandbox {
  if (typeof input === "string") return Object.freeze({ ...base, profile: input });
  const paths = (list: readonly string[] | undefined, fallback: readonly string[]) =>
    Object.freeze(list === undefined ? [...fallback] : list.map((p) => resolve(baseDir, p)));
  return Object.freeze({
    profile: input.profile,
    readOnlyRoot: input.read_only_root ?? base.readOnlyRoot,
    writablePaths: paths(input.writable_paths, base.writablePaths),
    hiddenPaths: paths(input.hidden_paths, base.hiddenPaths),
    privateTmp: input.private_tmp ?? base.privateTmp,
    network: input.network ?? base.network,
    memoryBytes: input.memory === undefined ? base.memoryBytes : parseMemorySize(input.memory),
    cpus: input.cpus ?? base.cpus,
    pids: input.pids ?? base.pids,
    uid: input.uid ?? base.uid,
    gid: input.gid ?? input.uid ?? base.gid,
    image: input.image ?? base.image,
  });
}
