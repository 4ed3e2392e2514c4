import { z } from "zod";

/**
 * The `sandbox:` setting of a task kind and of the worker (`worker.sandbox`, the default of every
 * task kind): a profile name, or an object with the profile and its options. What each profile
 * isolates is written down in docs/security.md.
 */

/** The isolation profiles. */
export const SANDBOX_PROFILES = ["none", "bubblewrap", "namespaces", "docker"] as const;
/** One isolation profile. */
export type SandboxProfile = (typeof SANDBOX_PROFILES)[number];

/** What network a sandboxed script gets. */
export const SANDBOX_NETWORKS = ["off", "loopback", "on"] as const;
/** A sandbox network mode. */
export type SandboxNetwork = (typeof SANDBOX_NETWORKS)[number];

const numericText = (value: unknown): unknown =>
  typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
const booleanText = (value: unknown): unknown => (value === "true" ? true : value === "false" ? false : value);
// YAML reads a bare `off` / `on` as a string, but `false` / `true` as booleans: both mean the same.
const networkText = (value: unknown): unknown => (value === false ? "off" : value === true ? "on" : value);

const POSITIVE_INT = { error: "a positive whole number" } as const;

/** A memory size: bytes as a number, or text such as "256M", "1.5G", "512MiB". */
export const memorySizeSchema = z.union([
  z.number(POSITIVE_INT).int(POSITIVE_INT).positive(POSITIVE_INT),
  z.string().regex(/^\s*\d+(\.\d+)?\s*([kmgKMG]i?[bB]?|[bB])?\s*$/, 'a size like "256M", "1G" or a number of bytes'),
]);

/** The options of a sandbox, as written. */
export const sandboxOptionsSchema = z
  .strictObject({
    profile: z.enum(SANDBOX_PROFILES).describe("none | bubblewrap | namespaces | docker"),
    read_only_root: z
      .preprocess(booleanText, z.boolean())
      .optional()
      .describe("Mount the whole filesystem read-only but for writable_paths (default true)"),
    writable_paths: z
      .array(z.string().min(1))
      .optional()
      .describe("Paths the script may write, relative to the config file (the attempt's own files always are)"),
    hidden_paths: z
      .array(z.string().min(1))
      .optional()
      .describe(
        "Paths the script must not see, replaced by an empty directory (the worker's data directory always is)",
      ),
    private_tmp: z
      .preprocess(booleanText, z.boolean())
      .optional()
      .describe("Give the script an empty, private /tmp (default true)"),
    network: z
      .preprocess(networkText, z.enum(SANDBOX_NETWORKS))
      .optional()
      .describe(
        "off: no network at all; loopback: a private loopback interface only; on: the host's network (default off). The local API (a Unix socket) works in every mode",
      ),
    memory: memorySizeSchema.optional().describe('Memory limit of the script\'s processes, e.g. "256M" (cgroup)'),
    cpus: z
      .preprocess(numericText, z.number({ error: "a positive number" }).positive({ error: "a positive number" }))
      .optional()
      .describe("CPU limit in cores, e.g. 0.5 (cgroup CPU quota)"),
    pids: z
      .preprocess(numericText, z.number(POSITIVE_INT).int(POSITIVE_INT).positive(POSITIVE_INT))
      .optional()
      .describe("Most processes and threads at once (cgroup pids limit; the sandbox's own helpers count)"),
    uid: z
      .preprocess(numericText, z.number(POSITIVE_INT).int(POSITIVE_INT).positive(POSITIVE_INT))
      .optional()
      .describe("Run the script as this user id (and group id `gid`, default the same); the worker must be root"),
    gid: z
      .preprocess(numericText, z.number(POSITIVE_INT).int(POSITIVE_INT).positive(POSITIVE_INT))
      .optional()
      .describe("Group id of the script (with uid)"),
    image: z
      .string()
      .min(1)
      .optional()
      .describe(
        "With profile docker: the container image the script runs in (default: the host's root as a throwaway overlay, podman only)",
      ),
  })
  .describe("Sandbox profile and its options");

/** `sandbox:` — a profile name, or the profile with options. */
export const sandboxSchema = z
  .union([z.enum(SANDBOX_PROFILES), sandboxOptionsSchema])
  .describe("Isolation of the script: a profile (none | bubblewrap | namespaces | docker) or { profile, …options }");

/** A `sandbox:` value as written. */
export type SandboxInput = z.output<typeof sandboxSchema>;
