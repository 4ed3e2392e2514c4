import type { KeyPath } from "./config-problems.ts";
import { type SandboxInput, SANDBOX_NETWORKS, SANDBOX_PROFILES } from "./sandbox-schema.ts";

/**
 * The Forge format's top-level `security:` section, mapped onto Kiln's sandbox profiles:
 *
 *   security:
 *     sandbox: { enabled: true, type: bubblewrap, network: false, memory: 256M, cpus: 1, pids: 64 }
 *     allowed_paths: [/data/out]     # writable paths
 *     run_as_user: 1000              # a numeric uid
 *
 * `enabled: true` without `type` means bubblewrap. It becomes the worker's default sandbox. A key
 * Kiln does not know, or a value it cannot honour, is a load error naming the key: a security
 * setting must never be ignored silently.
 */

/** A `security:` problem: where, and what to fix. */
export interface SecurityProblem {
  readonly path: KeyPath;
  readonly message: string;
}

const SANDBOX_KEYS = new Set([
  "enabled",
  "type",
  "profile",
  "network",
  "memory",
  "cpus",
  "pids",
  "private_tmp",
  "read_only_root",
  "writable_paths",
  "hidden_paths",
  "image",
]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function enabled(value: unknown): boolean {
  return value === true || value === "true";
}

/** Whether a value asks for nothing (off, false, none, empty). */
function asksForNothing(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0) return true;
  if (typeof value === "string") return ["", "none", "off", "disabled", "false", "no"].includes(value.toLowerCase());
  if (Array.isArray(value)) return value.length === 0;
  if (isRecord(value)) return Object.values(value).every(asksForNothing);
  return false;
}

/**
 * The worker default sandbox a `security:` section asks for (null: none), and its problems.
 * The returned input is checked by the same schema as `worker.sandbox`.
 */
export function readSecuritySection(security: unknown): { sandbox: SandboxInput | null; problems: SecurityProblem[] } {
  const problems: SecurityProblem[] = [];
  if (!isRecord(security)) return { sandbox: null, problems };
  const sandbox = isRecord(security.sandbox) ? security.sandbox : {};
  const on = enabled(sandbox.enabled);
  for (const [key, value] of Object.entries(security)) {
    if (key === "sandbox" || key === "allowed_paths" || key === "run_as_user") continue;
    if (asksForNothing(value)) continue;
    problems.push({
      path: ["security", key],
      message: `"security.${key}" is not a setting Kiln knows, so it would be ignored. Remove it; Kiln's sandbox settings are security.sandbox (enabled, type, network, memory, cpus, pids, private_tmp, read_only_root, writable_paths, hidden_paths, image), security.allowed_paths and security.run_as_user`,
    });
  }
  if (security.sandbox !== undefined && !isRecord(security.sandbox) && !asksForNothing(security.sandbox)) {
    problems.push({
      path: ["security", "sandbox"],
      message: `Expected "security.sandbox" to be a mapping such as { enabled: true, type: bubblewrap }`,
    });
  }
  for (const key of Object.keys(sandbox)) {
    if (!SANDBOX_KEYS.has(key) && !asksForNothing(sandbox[key])) {
      problems.push({
        path: ["security", "sandbox", key],
        message: `"security.sandbox.${key}" is not a sandbox setting Kiln knows, so it would be ignored. Known: ${[...SANDBOX_KEYS].join(", ")}`,
      });
    }
  }
  const runAs = security.run_as_user;
  const uid =
    typeof runAs === "number" ? runAs : typeof runAs === "string" && /^\d+$/.test(runAs) ? Number(runAs) : null;
  if (!asksForNothing(runAs) && (uid === null || uid <= 0)) {
    problems.push({
      path: ["security", "run_as_user"],
      message: `"security.run_as_user: ${JSON.stringify(runAs)}" must be a numeric user id above 0 (user names are not looked up)`,
    });
  }
  const allowed = Array.isArray(security.allowed_paths) ? security.allowed_paths : [];
  if (security.allowed_paths !== undefined && !Array.isArray(security.allowed_paths)) {
    problems.push({
      path: ["security", "allowed_paths"],
      message: `Expected "security.allowed_paths" to be a list of paths`,
    });
  }
  if (!on) {
    // Asking for a setting without a sandbox to apply it would be a setting silently ignored.
    for (const key of ["allowed_paths", "run_as_user"] as const) {
      if (!asksForNothing(security[key])) {
        problems.push({
          path: ["security", key],
          message: `"security.${key}" needs a sandbox to be honoured: set security.sandbox.enabled: true (and a type), or remove it`,
        });
      }
    }
    for (const [key, value] of Object.entries(sandbox)) {
      if (key === "enabled" || !SANDBOX_KEYS.has(key) || asksForNothing(value) || key === "network") continue;
      problems.push({
        path: ["security", "sandbox", key],
        message: `"security.sandbox.${key}" is set but the sandbox is not enabled, so it would be ignored: set security.sandbox.enabled: true, or remove it`,
      });
    }
    return { sandbox: null, problems };
  }
  const profile = sandbox.type ?? sandbox.profile ?? "bubblewrap";
  if (!SANDBOX_PROFILES.includes(profile as never)) {
    problems.push({
      path: ["security", "sandbox", sandbox.type === undefined ? "profile" : "type"],
      message: `Expected the sandbox type to be one of ${SANDBOX_PROFILES.join(", ")}, got ${JSON.stringify(profile)}`,
    });
  }
  const network = sandbox.network === false ? "off" : sandbox.network === true ? "on" : sandbox.network;
  if (network !== undefined && !SANDBOX_NETWORKS.includes(network as never)) {
    problems.push({
      path: ["security", "sandbox", "network"],
      message: `Expected "security.sandbox.network" to be false, true, or one of ${SANDBOX_NETWORKS.join(", ")}`,
    });
  }
  const { enabled: _enabled, type: _type, ...options } = sandbox;
  const writable = [...(Array.isArray(options.writable_paths) ? options.writable_paths : []), ...allowed];
  const input = {
    ...options,
    profile,
    ...(network === undefined ? {} : { network }),
    ...(writable.length === 0 ? {} : { writable_paths: writable }),
    ...(uid === null ? {} : { uid }),
  } as SandboxInput;
  return { sandbox: input, problems };
}
