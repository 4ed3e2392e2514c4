// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import { z } from "zod";
import { type ConfigProblem, describeValue, formatKeyPath, type KeyPath } from "./config-problems.ts";
import type { ConfigSource } from "./config-source.ts";
import { sandboxSchema } from "./sandbox-schema.ts";
import { readSecuritySection } from "./security-section.ts";

/**
 * The top-level sections a Forge-format config carries besides server, worker and tasks:
 * `logging` (worker defaults), `secrets` (where bare `${secret:NAME}` references resolve) and
 * `security` (sandbox settings, the worker's default sandbox). Kiln honours what it can and refuses
 * the rest at load: a security setting that asks for isolation Kiln does not give must never pass silently.
 */

const kilobytes = z.preprocess(
  (v) => (typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
  z.number().int().positive({ error: "a positive whole number" }),
);
const flag = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());

/** The log levels of the worker process. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;

/** `logging`: the worker process's log level and the default log capture of every task kind. */
export const loggingSchema = z
  .strictObject({
    level: z
      .preprocess((v) => (v === "warning" ? "warn" : v), z.enum(LOG_LEVELS))
      .optional()
      .describe("Level of the worker's own log (default info; KILN_LOG_LEVEL wins)"),
    format: z
      .enum(["json"])
      .optional()
      .describe("Format of the worker's own log: json lines (the only format Kiln writes)"),
    capture_stderr: flag.optional().describe("Default of every task kind's capture_stderr (default true)"),
    max_log_size_kb: kilobytes.optional().describe("Default of every task kind's max_log_size_kb (default 2048)"),
    max_output_size_kb: kilobytes.optional().describe("Default of every task kind's max_output_size_kb (default 512)"),
  })
  .describe("Worker log settings and task log defaults");

/** Where a bare `${secret:NAME}` resolves (a prefixed reference such as `env:NAME` always wins). */
export const SECRET_PROVIDERS = ["kiln", "env", "file"] as const;
/** A secret provider name. */
export type SecretProvider = (typeof SECRET_PROVIDERS)[number];

/** `secrets`: the default secret provider and its settings. */
export const secretsSchema = z
  .strictObject({
    provider: z
      .enum(SECRET_PROVIDERS)
      .optional()
      .describe(
        "Where ${secret:NAME} resolves: kiln (the server's encrypted vault, default), env (the worker's environment), file (a file NAME in `directory`)",
      ),
    env_prefix: z
      .string()
      .regex(/^[A-Za-z0-9_]*$/, "letters, digits and _")
      .optional()
      .describe("With provider env: prefix of the variable names (NAME is read from <prefix>NAME)"),
    directory: z.string().min(1).optional().describe("With provider file: the directory of the secret files"),
  })
  .describe("Secret provider settings");

/** `security`: the Forge format's sandbox settings, mapped onto the worker's default sandbox (security-section.ts). */
export const securitySchema = z
  .record(z.string(), z.unknown())
  .describe(
    "Sandbox settings of the Forge format: sandbox { enabled, type, network, memory, cpus, pids, … }, allowed_paths, run_as_user; what Kiln cannot honour is refused at load",
  );

/** The resolved `logging` section. */
export interface ResolvedLogging {
  readonly level: (typeof LOG_LEVELS)[number] | null;
  readonly format: "json";
  readonly captureStderr: boolean | null;
  readonly maxLogSizeKb: number | null;
  readonly maxOutputSizeKb: number | null;
}

/** The resolved `secrets` section. */
export interface ResolvedSecrets {
  readonly provider: SecretProvider;
  readonly envPrefix: string;
  /** Absolute, for provider file. */
  readonly directory: string | null;
}

/** A `url` or `grpc_address` as Kiln uses it: host:port gets `http://`; null when it is no address. */
export function normalizeServerAddress(text: string): string | null {
  const candidate = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  try {
    const url = new URL(candidate);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    if (url.hostname === "") return null;
    return candidate;
  } catch {
    return null;
  }
}

/**
 * Problems of the sections the schema cannot judge alone: a server address that is no address,
 * and security settings Kiln cannot honour. Every problem names the key and the value.
 */
export function checkForgeSections(data: Record<string, unknown>, source: ConfigSource): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (path: KeyPath, message: string): ConfigProblem => ({
    file: source.file,
    ...source.locate(path, "value"),
    path: formatKeyPath(path),
    message,
  });
  const server = data.server as Record<string, unknown> | undefined;
  for (const key of ["url", "grpc_address"]) {
    const value = server?.[key];
    if (typeof value === "string" && value !== "" && normalizeServerAddress(value) === null) {
      problems.push(
        at(
          ["server", key],
          `Expected "server.${key}" to be host:port (http:// is assumed) or an http(s):// URL, got ${describeValue(value)}`,
        ),
      );
    }
  }
  const { sandbox, problems: securityProblems } = readSecuritySection(data.security);
  for (const problem of securityProblems) problems.push(at(problem.path, problem.message));
  if (sandbox !== null) {
    const parsed = sandboxSchema.safeParse(sandbox);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        problems.push(
          at(["security", "sandbox"], `security.sandbox: ${issue.path.join(".") || "value"}: ${issue.message}`),
        );
      }
    }
    const worker = data.worker as Record<string, unknown> | undefined;
    if (worker?.sandbox !== undefined) {
      problems.push(
        at(
          ["security", "sandbox"],
          `The worker's default sandbox is set twice, by "security.sandbox" and by "worker.sandbox": keep one`,
        ),
      );
    }
  }
  return problems;
}
