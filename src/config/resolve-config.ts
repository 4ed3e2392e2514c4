import { resolveWorkerCompute, resolveWorkflowSettings } from "./resolve-compute.ts";
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { KilnError } from "../errors.ts";
import { resolveSchedule, type ScheduleDeclaration, type ScheduleFields } from "../engine/schedule-declaration.ts";
import { parseExitCodes } from "./exit-codes.ts";
import { checkInputSchema, schemaSecretFields } from "./input-schema.ts";
import { scheduleFields, shorthandFields } from "./schedule-schema.ts";
import { NO_SANDBOX, type ResolvedSandbox, resolveSandbox } from "./resolve-sandbox.ts";
import { sandboxSchema } from "./sandbox-schema.ts";
import { readSecuritySection } from "./security-section.ts";
import { normalizeServerAddress, type ResolvedLogging, type ResolvedSecrets } from "./forge-sections.ts";
import type {
  ResolvedConfig,
  ResolvedPlugin,
  ResolvedServer,
  ResolvedTaskKind,
  ResolvedServices,
  ResolvedWorker,
  SourcePosition,
} from "./resolved-config.ts";
import type { ConfigInput, TaskKindInput } from "./schema.ts";
import { checkSecretRef } from "./secret-refs.ts";
import { replaceVariables } from "./variables.ts";
import { resolveIncomingWebhooks, resolveWebhookDelivery } from "./resolve-webhooks.ts";
import { resolveDependencySettings, resolveRequirements, resolveScriptSource } from "./resolve-script-deps.ts";

/** Defaults of a task kind, in the units users write. */
export const TASK_DEFAULTS = Object.freeze({
  inputFormat: "env",
  outputFormat: "stdout",
  exitCodes: Object.freeze({ success: [0], retry: [] as number[], failure: ["1-255"] }),
  timeoutAction: "signal",
  gracePeriodSeconds: 10,
  maxRetries: 3,
  retry: Object.freeze({ initialIntervalSeconds: 1, maxIntervalSeconds: 60, backoffCoefficient: 2, jitter: 0.1 }),
  retryOnTimeout: true,
  retryOnFailure: false,
  captureStderr: true,
  maxOutputSizeKb: 512,
  maxInputSizeKb: 1024,
  maxLogSizeKb: 2048,
  shell: "/bin/sh",
} as const);

/** Defaults of the server section. */
export const SERVER_DEFAULTS = Object.freeze({
  url: "http://localhost:7700",
  namespace: "default",
  listen: "127.0.0.1:7700",
});
/** Defaults of the worker section. */
export const WORKER_DEFAULTS = Object.freeze({
  name: "kiln-worker",
  queue: "default",
  concurrency: 8,
  heartbeatIntervalSeconds: 10,
});

/** Freezes a resolved value and everything under it (Sets are typed readonly instead). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !(value instanceof Set) && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

const seconds = (value: number | undefined, fallback: number): number => Math.round((value ?? fallback) * 1000);

/** The `${secret:NAME}` names referenced in some texts. */
export function referencedSecrets(texts: Iterable<string>): string[] {
  const names = new Set<string>();
  for (const text of texts) {
    replaceVariables(text, (ref) => {
      if (ref.secret) names.add(ref.name);
      return undefined;
    });
  }
  return [...names];
}

/** Options of resolving a task kind. */
export interface ResolveTaskOptions {
  /** Directory that a relative `working_directory` or `output_file` is resolved against. */
  readonly baseDir: string;
  readonly source?: SourcePosition | null;
  /** Log defaults from the config's `logging` section (a task's own setting wins). */
  readonly logging?: ResolvedLogging;
  /** The worker's default sandbox, whose options a task's own `sandbox:` builds on. */
  readonly sandbox?: ResolvedSandbox;
}

function resolvePath(path: string | undefined, baseDir: string): string | null {
  if (path === undefined) return null;
  // A path that starts with a run-time variable is resolved by exec once expanded.
  return path.startsWith("${") || isAbsolute(path) ? path : resolve(baseDir, path);
}

/** The input_schema of a task kind: inline, or read from a JSON/YAML file relative to the config. */
function loadInputSchema(
  schema: string | Readonly<Record<string, unknown>> | undefined,
  baseDir: string,
  where: string,
): Readonly<Record<string, unknown>> | null {
  if (schema === undefined) return null;
  let value: unknown = schema;
  if (typeof schema === "string") {
    const path = resolve(baseDir, schema);
    try {
      value = parseYaml(readFileSync(path, "utf8"));
    } catch (cause) {
      throw new KilnError(
        "INVALID_CONFIG",
        `${where}: could not read input_schema ${path}: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new KilnError("INVALID_CONFIG", `${where}: input_schema ${path} does not hold a JSON Schema object`);
    }
  }
  checkInputSchema(value as Record<string, unknown>, where);
  return value as Readonly<Record<string, unknown>>;
}

/** Resolves one validated task kind: defaults filled, durations in ms, exit codes as sets. */
export function resolveTaskKind(input: TaskKindInput, options: ResolveTaskOptions): ResolvedTaskKind {
  const d = TASK_DEFAULTS;
  const maxRetries = input.max_retries ?? d.maxRetries;
  const env = { ...(input.env ?? {}) };
  const args = [...(input.args ?? [])];
  const declared = [...(input.secrets ?? [])];
  const secrets = [...new Set([...declared, ...referencedSecrets([input.command, ...args, ...Object.values(env)])])];
  for (const name of secrets) checkSecretRef(name, `The task kind ${input.kind}`, options.source ?? null);
  const inputSchema = loadInputSchema(input.input_schema, options.baseDir, `The task kind ${input.kind}`);
  const codes = input.exit_codes ?? {};
  const shell = input.shell === true ? d.shell : typeof input.shell === "string" ? input.shell : null;
  const resolved: ResolvedTaskKind = {
    kind: input.kind,
    description: input.description ?? null,
    command: input.command,
    args,
    shell,
    inputFormat: input.input_format ?? d.inputFormat,
    inputArgs: input.input_args ? [...input.input_args] : null,
    argsSeparator: input.args_separator ?? "--",
    commands: input.commands ?? "on",
    outputFormat: input.output_format ?? d.outputFormat,
    // Relative to the script's working directory, where the script writes it.
    outputFile: input.output_file ?? null,
    exitCodes: {
      success: new Set(parseExitCodes(codes.success ?? d.exitCodes.success)),
      retry: new Set(parseExitCodes(codes.retry ?? d.exitCodes.retry)),
      failure: new Set(parseExitCodes(codes.failure ?? d.exitCodes.failure)),
    },
    timeoutMs: input.timeout_seconds === undefined ? null : seconds(input.timeout_seconds, 0),
    timeoutAction: input.timeout_action ?? d.timeoutAction,
    gracePeriodMs: seconds(input.grace_period_seconds, d.gracePeriodSeconds),
    heartbeatTimeoutMs:
      input.heartbeat_timeout_seconds === undefined ? null : seconds(input.heartbeat_timeout_seconds, 0),
    maxRetries,
    retry: {
      maxAttempts: maxRetries + 1,
      initialIntervalMs: seconds(input.retry?.initial_interval_seconds, d.retry.initialIntervalSeconds),
      maxIntervalMs: seconds(input.retry?.max_interval_seconds, d.retry.maxIntervalSeconds),
      backoffCoefficient: input.retry?.backoff_coefficient ?? d.retry.backoffCoefficient,
      jitter: input.retry?.jitter ?? d.retry.jitter,
      nonRetryableErrors: [],
    },
    retryOnTimeout: input.retry_on_timeout ?? d.retryOnTimeout,
    retryOnFailure: input.retry_on_failure ?? d.retryOnFailure,
    workingDirectory: resolvePath(input.working_directory, options.baseDir),
    env,
    captureStderr: input.capture_stderr ?? options.logging?.captureStderr ?? d.captureStderr,
    maxOutputSizeKb: input.max_output_size_kb ?? options.logging?.maxOutputSizeKb ?? d.maxOutputSizeKb,
    maxInputSizeKb: input.max_input_size_kb ?? d.maxInputSizeKb,
    maxLogSizeKb: input.max_log_size_kb ?? options.logging?.maxLogSizeKb ?? d.maxLogSizeKb,
    secrets,
    secretEnv: declared,
    queue: input.queue ?? null,
    inputSchema,
    secretFields: [...new Set([...(input.secret_fields ?? []), ...schemaSecretFields(inputSchema)])],
    sandbox: input.sandbox === undefined ? null : resolveSandbox(input.sandbox, options.baseDir, options.sandbox),
    flovynEnv: input.flovyn_env ?? false,
    source: options.source ?? null,
    taskDir: resolve(options.baseDir),
    requirements: resolveRequirements(input.requirements, {
      kind: input.kind,
      command: input.command,
      shell: shell !== null,
      baseDir: options.baseDir,
    }),
    scriptSource: resolveScriptSource(input.source, {
      kind: input.kind,
      baseDir: options.baseDir,
      workingDirectory: input.working_directory ?? null,
    }),
  };
  return deepFreeze(resolved);
}

/** A duration as written in config (seconds, or "500ms" / "5s" / "1m") in milliseconds. */
function durationMs(value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === "number") return Math.round(value * 1000);
  const [, amount = "0", unit = "s"] = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value) ?? [];
  return Math.round(Number(amount) * (unit === "ms" ? 1 : unit === "m" ? 60_000 : 1000));
}

/** Options of resolving a whole config. */
export interface ResolveConfigOptions {
  readonly baseDir: string;
  readonly files?: readonly string[];
  /** Where each task (by index) was declared. */
  readonly taskSources?: readonly (SourcePosition | null)[];
}

/** Resolves a validated config (base file with tasks files merged in) into its frozen form. */
export function resolveConfig(input: ConfigInput, options: ResolveConfigOptions): ResolvedConfig {
  const s = input.server ?? {};
  const w = input.worker ?? {};
  const server: ResolvedServer = {
    // Forge writes `grpc_address: "localhost:9090"`: a bare host:port means http (checked at load).
    url: normalizeServerAddress(s.url ?? s.grpc_address ?? SERVER_DEFAULTS.url) ?? SERVER_DEFAULTS.url,
    namespace: s.namespace ?? s.org_id ?? SERVER_DEFAULTS.namespace,
    token: s.token ?? s.worker_token ?? null,
    listen: s.listen ?? SERVER_DEFAULTS.listen,
    database: s.database === undefined ? null : resolveDatabase(s.database, options.baseDir),
    rateLimits: Object.fromEntries(Object.entries(s.rate_limits ?? {}).filter(([, v]) => v !== undefined)),
  };
  const worker: ResolvedWorker = {
    name: w.name ?? WORKER_DEFAULTS.name,
    version: w.version ?? null,
    queues: w.queues ? [...new Set(w.queues)] : [w.queue ?? WORKER_DEFAULTS.queue],
    concurrency: w.concurrency ?? WORKER_DEFAULTS.concurrency,
    heartbeatIntervalMs: seconds(w.heartbeat_interval_seconds, WORKER_DEFAULTS.heartbeatIntervalSeconds),
    shutdownTimeoutMs: durationMs(w.shutdown_timeout, 10_000),
    healthPort: w.health_port ?? null,
    env: { ...(w.env ?? {}) },
    envPassthrough: [...new Set(w.env_passthrough ?? [])],
    dependencies: resolveDependencySettings(w.dependencies, options.baseDir),
    sandbox: workerSandbox(input, options.baseDir),
    ...resolveWorkerCompute(w),
  };
  const llm = input.services?.llm ?? {};
  const email = input.services?.email ?? {};
  const services: ResolvedServices = {
    llm: defined({
      provider: llm.provider,
      baseUrl: llm.base_url,
      apiKey: llm.api_key,
      model: llm.model,
      timeoutMs: llm.timeout_seconds === undefined ? undefined : llm.timeout_seconds * 1000,
    }),
    email: defined({
      from: email.from,
      host: email.host,
      port: email.port,
      secure: email.secure,
      starttls: email.starttls,
      username: email.username,
      password: email.password,
    }),
  };
  const log = input.logging ?? {};
  const logging: ResolvedLogging = {
    level: log.level ?? null,
    format: log.format ?? "json",
    captureStderr: log.capture_stderr ?? null,
    maxLogSizeKb: log.max_log_size_kb ?? null,
    maxOutputSizeKb: log.max_output_size_kb ?? null,
  };
  const secretsInput = input.secrets ?? {};
  const secrets: ResolvedSecrets = {
    provider: secretsInput.provider ?? "kiln",
    envPrefix: secretsInput.env_prefix ?? "",
    directory: secretsInput.directory === undefined ? null : resolve(options.baseDir, secretsInput.directory),
  };
  const tasks = (input.tasks ?? []).map((task, i) =>
    resolveTaskKind(task, {
      baseDir: options.baseDir,
      source: options.taskSources?.[i] ?? null,
      logging,
      sandbox: worker.sandbox,
    }),
  );
  const plugins: ResolvedPlugin[] = (input.plugins ?? []).map((p) => ({
    name: p.name,
    module: p.module.startsWith(".") ? resolve(options.baseDir, p.module) : p.module,
    options: { ...(p.options ?? {}) },
  }));
  return deepFreeze({
    schedules: resolveSchedules(input),
    files: [...(options.files ?? [])],
    baseDir: options.baseDir,
    server,
    worker,
    tasks,
    plugins,
    services,
    webhooks: resolveIncomingWebhooks(input),
    webhookDelivery: resolveWebhookDelivery(input),
    logging,
    secrets,
    workflows: resolveWorkflowSettings(input.workflows),
  });
}

/** `schedules:` and task kinds' `schedule:` shorthands (id: the kind); INVALID_CONFIG says which. */
function resolveSchedules(input: ConfigInput): ScheduleDeclaration[] {
  const entries: { fields: ScheduleFields; where: string }[] = [
    ...(input.schedules ?? []).map((s, i) => ({ fields: scheduleFields(s), where: `schedules[${i}]` })),
    ...(input.tasks ?? []).flatMap((t, i) =>
      t.schedule === undefined
        ? []
        : [{ fields: shorthandFields(t.schedule, { type: "task", name: t.kind }), where: `tasks[${i}].schedule` }],
    ),
  ];
  const seen = new Set<string>();
  return entries.map(({ fields, where }) => {
    if (seen.has(fields.id)) {
      throw new KilnError(
        "INVALID_CONFIG",
        `${where}: schedule id "${fields.id}" is declared twice; ids must be unique`,
      );
    }
    seen.add(fields.id);
    try {
      return resolveSchedule(fields, where);
    } catch (cause) {
      throw new KilnError("INVALID_CONFIG", `${where}: ${(cause as Error).message}`, { cause });
    }
  });
}

/** The worker's default sandbox: `worker.sandbox`, else what the Forge `security:` section asks for. */
function workerSandbox(input: ConfigInput, baseDir: string): ResolvedSandbox {
  const declared = input.worker?.sandbox ?? readSecuritySection(input.security).sandbox;
  if (declared === null) return NO_SANDBOX;
  // The security section was checked against the same schema at load (forge-sections.ts).
  return resolveSandbox(sandboxSchema.parse(declared), baseDir);
}

/** Drops undefined fields (settings objects are read with `??` and spread over node params). */
function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

function resolveDatabase(database: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(database) || database === ":memory:") return database;
  return resolve(baseDir, database);
}
