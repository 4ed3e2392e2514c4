// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import { z } from "zod";
import { incomingWebhookSchema, webhookDeliverySchema } from "./webhooks-schema.ts";
import { scheduleSchema, scheduleShorthandSchema } from "./schedule-schema.ts";
import { loggingSchema, secretsSchema, securitySchema } from "./forge-sections.ts";
import { dependencySettingsSchema, requirementsSchema, scriptSourceSchema } from "./script-deps-schema.ts";
import { sandboxSchema } from "./sandbox-schema.ts";
import {
  cloudflareSettingsSchema,
  dockerSettingsSchema,
  workerAdaptersSchema,
  workflowSettingsSchema,
} from "./compute-schema.ts";

/**
 * The zod schemas of a Kiln config file: the single source of validation, of the resolved types'
 * inputs and of `schema/kiln.schema.json` (scripts/gen-schema.ts). Keys are snake_case as users
 * write them; `resolve-config.ts` turns them into the camelCase, millisecond-based resolved form.
 */

// A `${VAR}` placed as a plain YAML scalar, or any TOML string, arrives as text: numeric text is
// accepted where a number is expected so that `timeout_seconds: ${TIMEOUT}` works.
const numericText = (value: unknown): unknown =>
  typeof value === "string" && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
const booleanText = (value: unknown): unknown => (value === "true" ? true : value === "false" ? false : value);

// Schema-level messages are expectation phrases: config-problems.ts prints
// `Expected "<key>" to be <phrase>, got <value>`.
const POSITIVE = { error: "a positive number" } as const;
const POSITIVE_INT = { error: "a positive whole number" } as const;
const WHOLE = { error: "a whole number" } as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const seconds = (description: string) =>
  z.preprocess(numericText, z.number(POSITIVE).positive(POSITIVE)).describe(description);
const kilobytes = (description: string) =>
  z.preprocess(numericText, z.number(POSITIVE_INT).int(POSITIVE_INT).positive(POSITIVE_INT)).describe(description);
const flag = (description: string) => z.preprocess(booleanText, z.boolean()).describe(description);

const EXIT_CODE = { error: "an exit code from 0 to 255" } as const;
/** One exit code (0–255) or an inclusive range such as `"1-255"`. */
export const exitCodeEntrySchema = z.union([
  z.preprocess(numericText, z.number(EXIT_CODE).int(EXIT_CODE).min(0, EXIT_CODE).max(255, EXIT_CODE)),
  z
    .string()
    .regex(/^\s*\d{1,3}\s*-\s*\d{1,3}\s*$/, 'a range like "1-255"')
    .refine((range) => {
      const [low, high] = range.split("-").map(Number) as [number, number];
      return low <= high && high <= 255;
    }, 'a range like "1-255" (low to high, at most 255)'),
]);

const exitCodeListSchema = z.union([exitCodeEntrySchema, z.array(exitCodeEntrySchema)]);

/** `exit_codes`: which codes mean success, retry or failure (numbers and ranges). */
export const exitCodesSchema = z
  .strictObject({
    success: exitCodeListSchema.optional().describe("Exit codes that mean success (default [0])"),
    retry: exitCodeListSchema.optional().describe("Exit codes that retry with backoff up to max_retries"),
    failure: exitCodeListSchema.optional().describe('Exit codes that fail without retry (default ["1-255"])'),
  })
  .describe("How exit codes map to success, retry and failure; retry wins over failure where they overlap");

/** `retry`: the backoff between attempts of a task kind. */
export const retrySchema = z
  .strictObject({
    initial_interval_seconds: seconds("Delay before the first retry (default 1)").optional(),
    max_interval_seconds: seconds("Longest delay between retries (default 60)").optional(),
    backoff_coefficient: z
      .preprocess(numericText, z.number().min(1))
      .describe("Multiplier applied to the delay after each retry (default 2)")
      .optional(),
    jitter: z
      .preprocess(numericText, z.number().min(0).max(1))
      .describe("Fraction of the delay added or removed at random (default 0.1)")
      .optional(),
  })
  .describe("Retry backoff of the task kind");

/** The input formats of a script task (README "Script tasks"). */
export const INPUT_FORMATS = ["env", "json_stdin", "json_file", "args"] as const;
/** The output formats of a script task (README "Script tasks"). */
export const OUTPUT_FORMATS = ["stdout", "json_stdout", "file", "exit_code_only"] as const;
/** What a timeout does to the script's process group. */
export const TIMEOUT_ACTIONS = ["kill", "signal"] as const;

/** One task kind: a script or CLI declared in config. */
export const taskKindSchema = z
  .strictObject({
    kind: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "a name of letters, digits, '.', '_', ':' or '-'")
      .describe("The task kind's name, used to start runs of it"),
    description: z.string().optional().describe("What the task does, shown in the UI"),
    command: z
      .string()
      .min(1)
      .describe("The executable (looked up on PATH), or with shell: true the shell script text"),
    args: z
      .array(z.preprocess((v) => (typeof v === "number" || typeof v === "boolean" ? String(v) : v), z.string()))
      .optional()
      .describe("Arguments; each element stays one argument (${INPUT_*}, ${STATE_*}, ${KILN_*} expand per run)"),
    shell: z
      .union([z.boolean(), z.string().min(1)])
      .optional()
      .describe("Run command as shell text with /bin/sh (true) or the given shell; input arrives only as env vars"),
    input_format: z.enum(INPUT_FORMATS).optional().describe("How the run input reaches the script (default env)"),
    input_args: z
      .array(z.string())
      .optional()
      .describe("With input_format: args, the input fields in positional order (default: the input's key order)"),
    commands: z
      .enum(["on", "off", "file-only"])
      .optional()
      .describe(
        "Which `::` stdout commands are honoured (default on). A script that echoes its input can be made to print `::set-output`; with file-only, outputs and state come only from $KILN_OUTPUT / $KILN_STATE, with off no line is a command",
      ),
    args_separator: z
      .string()
      .max(16)
      .optional()
      .describe(
        'With input_format: args, put before the input\'s arguments so a value never reads as an option (default "--"; "" for none)',
      ),
    output_format: z
      .enum(OUTPUT_FORMATS)
      .optional()
      .describe("How the run output is read from the script (default stdout)"),
    output_file: z
      .string()
      .min(1)
      .optional()
      .describe(
        "With output_format: file, the file to read, relative to the working directory (default: $KILN_OUTPUT_FILE)",
      ),
    exit_codes: exitCodesSchema.optional(),
    timeout_seconds: seconds("Wall-clock limit of one attempt (default: none)").optional(),
    timeout_action: z
      .enum(TIMEOUT_ACTIONS)
      .optional()
      .describe("kill: SIGKILL the process group; signal: SIGTERM, then SIGKILL after the grace period (default)"),
    grace_period_seconds: seconds("Time between SIGTERM and SIGKILL (default 10)").optional(),
    heartbeat_timeout_seconds: seconds(
      "Fail the attempt when the script is silent (no output, ::heartbeat::, or local API call) this long",
    ).optional(),
    max_retries: z
      .preprocess(numericText, z.number(WHOLE).int(WHOLE).min(0, WHOLE))
      .optional()
      .describe("Retries after the first attempt (default 3)"),
    retry: retrySchema.optional(),
    retry_on_timeout: flag("Whether a timed-out attempt is retried (default true)").optional(),
    retry_on_failure: flag("Whether failure exit codes are retried too (default false)").optional(),
    working_directory: z
      .string()
      .min(1)
      .optional()
      .describe("Directory the script runs in, relative to the config file (default: the worker's)"),
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name"),
        z.preprocess((v) => (typeof v === "number" || typeof v === "boolean" ? String(v) : v), z.string()),
      )
      .optional()
      .describe("Extra environment variables (${secret:NAME} and run-time variables expand per run)"),
    capture_stderr: flag("Record stderr lines as logs and keep its tail on failure (default true)").optional(),
    max_output_size_kb: kilobytes("Cap on the captured output (default 512)").optional(),
    max_input_size_kb: kilobytes("Cap on the run input as JSON (default 1024)").optional(),
    max_log_size_kb: kilobytes("Cap on log volume per attempt; head and tail are kept (default 2048)").optional(),
    secrets: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a secret name"))
      .optional()
      .describe("Secrets exposed as environment variables of the same name, masked everywhere"),
    queue: z.string().min(1).optional().describe("The queue runs of this kind go to (default: the worker's first)"),
    schedule: scheduleShorthandSchema.optional(),
    input_schema: z
      .union([z.string().min(1), z.record(z.string(), z.unknown())])
      .optional()
      .describe(
        "JSON Schema (2020-12) the run input must match, inline or a .json/.yaml file path relative to the config; checked before a run is created",
      ),
    secret_fields: z
      .array(z.string().min(1))
      .optional()
      .describe("Input fields (a.b for nested) whose values are secrets, masked in logs, outputs and shown input"),
    sandbox: sandboxSchema.optional(),
    flovyn_env: flag(
      "Also give the script FLOVYN_* copies of the KILN_* context variables, for scripts written for Flovyn (default false)",
    ).optional(),
    requirements: requirementsSchema.optional(),
    source: scriptSourceSchema.optional(),
  })
  .describe("A script or CLI that becomes a durable task");

/** A request rate: `PER_SECOND[,BURST]` (burst default: four seconds' worth) or `off`. */
const rateLimitSpec = z
  .string()
  .regex(/^(off|\d+(\.\d+)?(,[1-9]\d*)?)$/, 'Expected PER_SECOND[,BURST] (e.g. "50,200") or "off"');

/** `server`: where a worker or CLI finds the Kiln server. Forge names load as aliases. */
export const serverSchema = z
  .strictObject({
    url: z.string().min(1).optional().describe("Base URL of the Kiln server (default http://localhost:7700)"),
    namespace: z.string().min(1).optional().describe("Namespace (tenant) to use (default: default)"),
    token: z.string().optional().describe("API or worker token"),
    listen: z.string().min(1).optional().describe("host:port the server binds (default 127.0.0.1:7700)"),
    database: z.string().min(1).optional().describe("SQLite file path or postgres:// URL (default .kiln/kiln.db)"),
    grpc_address: z.string().min(1).optional().describe("Forge alias of url"),
    org_id: z.string().min(1).optional().describe("Forge alias of namespace"),
    worker_token: z.string().optional().describe("Forge alias of token"),
    rate_limits: z
      .strictObject({
        default: rateLimitSpec.optional().describe("Per API token or account (default 50,200)"),
        worker: rateLimitSpec.optional().describe("Per worker token (default 2000,4000)"),
        anonymous: rateLimitSpec
          .optional()
          .describe("Per client address, for requests without a valid credential (default 20,200)"),
      })
      .optional()
      .describe("Request rates `kiln server`/`kiln dev` allow (flags --rate-limit, … override them)"),
  })
  .describe("How to reach the Kiln server");

/** `worker`: the settings of `kiln worker`. */
export const workerSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe("Worker name shown in the UI (default kiln-worker)"),
    version: z.string().min(1).optional().describe("Version of the worker's code, for pinning"),
    queue: z.string().min(1).optional().describe("The queue to claim runs from (default: default)"),
    queues: z.array(z.string().min(1)).min(1).optional().describe("Several queues to claim runs from"),
    concurrency: z
      .preprocess(numericText, z.number(POSITIVE_INT).int(POSITIVE_INT).positive(POSITIVE_INT))
      .optional()
      .describe("Runs executed at once (default 8)"),
    heartbeat_interval_seconds: seconds(
      "How often the worker heartbeats its leases (default 10); leases last 3 intervals, at least 30 s",
    ).optional(),
    env: z
      .record(z.string().regex(ENV_NAME, "an environment variable name"), z.string())
      .optional()
      .describe("What flows see as `env.NAME` (values may use ${VAR} and ${secret:NAME})"),
    env_passthrough: z
      .array(z.string().regex(ENV_NAME, "an environment variable name"))
      .optional()
      .describe("Names of the worker process's environment variables also shown to flows as `env.NAME`"),
    shutdown_timeout: z
      .union([
        z.number(POSITIVE).positive(POSITIVE),
        z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m)?\s*$/, 'a duration like "5s", "500ms" or "1m"'),
      ])
      .optional()
      .describe(
        'On SIGTERM, how long running scripts may finish before they are TERMed (seconds, or "5s"; default 10s)',
      ),
    sandbox: sandboxSchema
      .optional()
      .describe("Default sandbox of every task kind that sets none (see docs/security.md)"),
    health_port: z
      .preprocess(numericText, z.number(WHOLE).int(WHOLE).min(0, WHOLE).max(65_535, WHOLE))
      .optional()
      .describe("Port of /healthz, /readyz and /metrics for `kiln worker` (default: not served)"),
    dependencies: dependencySettingsSchema.optional(),
    adapters: workerAdaptersSchema.optional(),
    docker: dockerSettingsSchema.optional(),
    cloudflare: cloudflareSettingsSchema.optional(),
  })
  .describe("Worker settings");

/** `services`: defaults of the flow nodes that talk to the outside world. */
export const servicesSchema = z
  .strictObject({
    llm: z
      .strictObject({
        provider: z
          .enum(["openai", "anthropic"])
          .optional()
          .describe("Wire format of the endpoint: openai (chat completions, default) or anthropic (Messages API)"),
        base_url: z.string().min(1).optional().describe("OpenAI-compatible API base, e.g. https://api.openai.com/v1"),
        api_key: z.string().optional().describe("API key (usually ${secret:OPENAI_KEY} or ${OPENAI_API_KEY})"),
        model: z.string().min(1).optional().describe("Model used when a node gives none"),
        timeout_seconds: seconds("Per-request time limit (default 60)").optional(),
      })
      .optional()
      .describe("Defaults of `llm` nodes"),
    email: z
      .strictObject({
        from: z.string().min(1).optional().describe("Sender when a node gives no `from`"),
        host: z.string().min(1).optional().describe("SMTP host"),
        port: z.preprocess(numericText, z.number().int().min(1).max(65535)).optional().describe("SMTP port"),
        secure: z.boolean().optional().describe("Implicit TLS (port 465)"),
        starttls: z.enum(["auto", "always", "never"]).optional().describe("STARTTLS use (default auto)"),
        username: z.string().optional().describe("SMTP user"),
        password: z.string().optional().describe("SMTP password (usually ${secret:SMTP_PASSWORD})"),
      })
      .optional()
      .describe("Defaults of `email.send` nodes"),
  })
  .describe("Settings of flow nodes' outside services");

/** One plugin: a module that adds task kinds or node types. */
export const pluginSchema = z
  .strictObject({
    name: z.string().min(1).describe("The plugin's name"),
    module: z.string().min(1).describe("Package name, or a path relative to the config file"),
    options: z.record(z.string(), z.unknown()).optional().describe("Options passed to the plugin"),
  })
  .describe("A plugin module");

/** A whole config file (`kiln.yaml`, `kiln.toml`). */
export const configSchema = z
  .strictObject({
    $schema: z.string().optional().describe("JSON Schema of this file, for editors"),
    server: serverSchema.optional(),
    worker: workerSchema.optional(),
    tasks: z.array(taskKindSchema).optional().describe("Task kinds; tasks/*.yaml next to the file are merged in"),
    plugins: z.array(pluginSchema).optional(),
    services: servicesSchema.optional(),
    webhooks: z.array(incomingWebhookSchema).optional().describe("Incoming webhooks that start runs"),
    webhook_delivery: webhookDeliverySchema.optional(),
    schedules: z.array(scheduleSchema).optional().describe("Schedules that start workflows or task kinds"),
    logging: loggingSchema.optional(),
    secrets: secretsSchema.optional(),
    security: securitySchema.optional(),
    workflows: workflowSettingsSchema.optional(),
  })
  .describe("Kiln configuration (kiln.yaml / kiln.toml)");

/** A validated config file, as written (snake_case, optional keys). */
export type ConfigInput = z.output<typeof configSchema>;
/** A validated task kind, as written. */
export type TaskKindInput = z.output<typeof taskKindSchema>;
