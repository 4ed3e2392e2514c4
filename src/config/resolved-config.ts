import type {
  ComputeAdapterName,
  ResolvedCloudflareSettings,
  ResolvedDockerSettings,
  ResolvedWorkflowSettings,
} from "./resolve-compute.ts";
import type { ScheduleDeclaration } from "../engine/schedule-declaration.ts";
/** The resolved configuration: frozen, fully defaulted, camelCase and millisecond-based. */
import type { ResolvedIncomingWebhook, ResolvedWebhookDelivery } from "./resolve-webhooks.ts";

import type { ResolvedLogging, ResolvedSecrets } from "./forge-sections.ts";
import type { ResolvedDependencySettings, ResolvedRequirements, ResolvedScriptSource } from "./resolve-script-deps.ts";
import type { ResolvedSandbox } from "./resolve-sandbox.ts";

/** How a task kind's input reaches the script. */
export type InputFormat = "env" | "json_stdin" | "json_file" | "args";
/** How a task kind's output is read. */
export type OutputFormat = "stdout" | "json_stdout" | "file" | "exit_code_only";
/** What a timeout does to the process group. */
export type TimeoutAction = "kill" | "signal";

/** Which exit codes mean what. Retry wins over failure where lists overlap; unlisted codes fail. */
export interface ExitCodeMap {
  readonly success: ReadonlySet<number>;
  readonly retry: ReadonlySet<number>;
  readonly failure: ReadonlySet<number>;
}

/** Backoff between attempts; the same fields as the engine's RetryPolicy. */
export interface ResolvedRetry {
  /** Total attempts including the first: `max_retries + 1`. */
  readonly maxAttempts: number;
  readonly initialIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly backoffCoefficient: number;
  readonly jitter: number;
  /** Error codes never retried (empty: retryability comes from each error). */
  readonly nonRetryableErrors: readonly string[];
}

/** Where a resolved item was declared, for messages. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
}

/** One script task kind, ready for exec. */
export interface ResolvedTaskKind {
  readonly kind: string;
  readonly description: string | null;
  /** The executable, or the shell script text when `shell` is set. May hold run-time variables. */
  readonly command: string;
  readonly args: readonly string[];
  /** The shell that runs `command` as text (`/bin/sh` for `shell: true`), or null for a direct spawn. */
  readonly shell: string | null;
  readonly inputFormat: InputFormat;
  /** Positional order of input fields for `args` input (null: the input's key order). */
  readonly inputArgs: readonly string[] | null;
  /** Which `::` stdout commands are honoured: on | off | file-only (outputs and state by file only). */
  readonly commands: "on" | "off" | "file-only";
  /** Put before the input's arguments (`args` input) so a value never reads as an option; "" for none. */
  readonly argsSeparator: string;
  readonly outputFormat: OutputFormat;
  /** The file read by `file` output, relative to the working directory (null: `$KILN_OUTPUT_FILE`). */
  readonly outputFile: string | null;
  readonly exitCodes: ExitCodeMap;
  /** Wall-clock limit of one attempt (null: none). */
  readonly timeoutMs: number | null;
  readonly timeoutAction: TimeoutAction;
  readonly gracePeriodMs: number;
  /** Fail when the script is silent this long (null: never). */
  readonly heartbeatTimeoutMs: number | null;
  readonly maxRetries: number;
  readonly retry: ResolvedRetry;
  readonly retryOnTimeout: boolean;
  readonly retryOnFailure: boolean;
  /** Absolute, or null to run in the worker's directory. May hold run-time variables. */
  readonly workingDirectory: string | null;
  readonly env: Readonly<Record<string, string>>;
  readonly captureStderr: boolean;
  readonly maxOutputSizeKb: number;
  readonly maxInputSizeKb: number;
  readonly maxLogSizeKb: number;
  /** Every secret the kind needs: declared ones (exposed as env vars) and `${secret:NAME}` references. */
  readonly secrets: readonly string[];
  /** Declared secrets, exposed to the script as env vars of the same name. */
  readonly secretEnv: readonly string[];
  readonly queue: string | null;
  /** The JSON Schema the run input must match (file already read), or null. */
  readonly inputSchema: Readonly<Record<string, unknown>> | null;
  /** Input fields (`a.b` for nested) whose values are secrets: secret_fields and `x-secret: true` properties. */
  readonly secretFields: readonly string[];
  /** The kind's own sandbox (over the worker default's options), or null to use the worker's default. */
  readonly sandbox: ResolvedSandbox | null;
  /** Whether the script also gets FLOVYN_* copies of the KILN_* context variables. */
  readonly flovynEnv: boolean;
  readonly source: SourcePosition | null;
  /**
   * The task's directory (its config file's): a working_directory or output_file built from
   * run-time values must resolve inside it, after `..` and symlinks.
   */
  readonly taskDir: string;
  /** Packages installed into a cached environment the script runs in (null: none). */
  readonly requirements: ResolvedRequirements | null;
  /** Where the script's files are fetched from; the script runs in the fetched directory (null: local). */
  readonly scriptSource: ResolvedScriptSource | null;
}

/** How to reach the server. */
export interface ResolvedServer {
  readonly url: string;
  readonly namespace: string;
  readonly token: string | null;
  readonly listen: string;
  readonly database: string | null;
  /** `rate_limits`, as written (`PER_SECOND[,BURST]` or `off`); the server parses them. */
  readonly rateLimits: Readonly<Partial<Record<"default" | "worker" | "anonymous", string>>>;
}

/** Worker settings. */
export interface ResolvedWorker {
  readonly name: string;
  readonly version: string | null;
  readonly queues: readonly string[];
  readonly concurrency: number;
  readonly heartbeatIntervalMs: number;
  /** After SIGTERM, how long running activations may finish before their scripts are TERMed. */
  readonly shutdownTimeoutMs: number;
  /** Port of the worker's /healthz, /readyz and /metrics, or null. */
  readonly healthPort: number | null;
  /** What flows see as `env` (values may hold `${secret:NAME}`, resolved when the worker starts). */
  readonly env: Readonly<Record<string, string>>;
  /** Names of the worker process's own environment variables also shown to flows. */
  readonly envPassthrough: readonly string[];
  /** How script environments and fetched sources are built and cached. */
  readonly dependencies: ResolvedDependencySettings;
  /** The sandbox of task kinds that set none (`worker.sandbox` or the `security:` section). */
  readonly sandbox: ResolvedSandbox;
  /** Compute adapters of deployed workflows; the first runs those deployed for any adapter. */
  readonly adapters: readonly ComputeAdapterName[];
  readonly docker: ResolvedDockerSettings;
  /** The Cloudflare account, or null: Workers run locally in workerd (miniflare). */
  readonly cloudflare: ResolvedCloudflareSettings | null;
}

/** Defaults of the flow nodes that reach outside services; strings may hold `${secret:NAME}`. */
export interface ResolvedServices {
  readonly llm: {
    readonly provider?: "openai" | "anthropic";
    readonly baseUrl?: string;
    readonly apiKey?: string;
    readonly model?: string;
    readonly timeoutMs?: number;
  };
  readonly email: ResolvedEmailService;
}

/** SMTP settings from `services.email`: the defaults of every email.send node. */
export interface ResolvedEmailService {
  /** The sender when a node gives no `from`. */
  readonly from?: string;
  readonly host?: string;
  readonly port?: number;
  readonly secure?: boolean;
  readonly starttls?: "auto" | "always" | "never";
  readonly username?: string;
  readonly password?: string;
}

/** A plugin module to load. */
export interface ResolvedPlugin {
  readonly name: string;
  /** A package name, or an absolute path. */
  readonly module: string;
  readonly options: Readonly<Record<string, unknown>>;
}

/** The whole resolved configuration. */
export interface ResolvedConfig {
  /** The files it was loaded from (base file first), empty for defaults. */
  readonly files: readonly string[];
  /** The directory relative paths were resolved against. */
  readonly baseDir: string;
  readonly server: ResolvedServer;
  readonly worker: ResolvedWorker;
  readonly tasks: readonly ResolvedTaskKind[];
  readonly plugins: readonly ResolvedPlugin[];
  readonly services: ResolvedServices;
  /** Incoming webhooks declared in the file (synced to the store by `kiln dev`/`kiln server`). */
  readonly webhooks: readonly ResolvedIncomingWebhook[];
  /** How outgoing webhooks are retried. */
  readonly webhookDelivery: ResolvedWebhookDelivery;
  /** `schedules:` and the `schedule:` shorthands of task kinds, resolved. */
  readonly schedules: readonly ScheduleDeclaration[];
  /** The worker's log level and format (task log defaults are already in each task kind). */
  readonly logging: ResolvedLogging;
  /** Where bare `${secret:NAME}` references resolve. */
  readonly secrets: ResolvedSecrets;
  /** `workflows:` per-workflow settings by name (the adapter `kiln deploy` uses without -a). */
  readonly workflows: Readonly<Record<string, ResolvedWorkflowSettings>>;
}
