/**
 * Every error Kiln raises is a KilnError with a stable string code. Codes are part of the public
 * contract (API bodies, CLI output, tests), so they are listed here, in one place, and never renamed.
 */

/** The stable error codes, with the HTTP status each maps to at the API edge. */
export const ERROR_CODES = {
  // Input and configuration (caller must fix something).
  INVALID_INPUT: 400,
  INVALID_JSON: 400,
  INVALID_CONFIG: 400,
  INVALID_DURATION: 400,
  PAYLOAD_TOO_LARGE: 413,
  CONFIG_NOT_FOUND: 404,
  CONFIG_VARIABLE_UNSET: 400,
  // Lookups.
  RUN_NOT_FOUND: 404,
  STEP_NOT_FOUND: 404,
  WORKFLOW_NOT_FOUND: 404,
  TASK_KIND_NOT_FOUND: 404,
  NAMESPACE_NOT_FOUND: 404,
  SECRET_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  SCHEDULE_NOT_FOUND: 404,
  // State machine and durability.
  INVALID_STATE_TRANSITION: 409,
  LEASE_LOST: 409,
  STEP_ALREADY_RECORDED: 409,
  NON_DETERMINISTIC: 409,
  IDEMPOTENCY_CONFLICT: 409,
  /** A workflow version was deployed again with different source. */
  WORKFLOW_VERSION_EXISTS: 409,
  RUN_CANCELLED: 409,
  /** A workflow (or version) was to be deleted while runs of it are in flight, without force. */
  WORKFLOW_IN_USE: 409,
  // Execution outcomes recorded on runs and steps.
  STEP_FAILED: 500,
  STEP_TIMEOUT: 504,
  RUN_TIMEOUT: 504,
  WORKFLOW_FAILED: 500,
  TASK_FAILED: 500,
  CHILD_FAILED: 500,
  EVENT_TIMEOUT: 504,
  COMPENSATION_FAILED: 500,
  EXEC_FAILED: 500,
  EXEC_NOT_FOUND: 500,
  EXEC_PERMISSION_DENIED: 500,
  EXEC_SIGNALED: 500,
  EXEC_TIMEOUT: 504,
  EXEC_HEARTBEAT_TIMEOUT: 504,
  OUTPUT_INVALID_JSON: 500,
  OUTPUT_TOO_LARGE: 500,
  /** A working_directory or output_file built from input or state resolves outside the task's directory. */
  PATH_NOT_ALLOWED: 403,
  /** A `${…}` expression or a `transform` script failed, timed out or ran out of memory in the sandbox. */
  EXPRESSION_FAILED: 500,
  /** A flow node was entered more often than the flow's `max_visits`. */
  VISIT_LIMIT_EXCEEDED: 500,
  /** Deployed workflow code used more CPU (or blocked its host longer) than one activation may. */
  ACTIVATION_TIMEOUT: 504,
  /** A workflow host process died or hung too often while running a run's activations. */
  HOST_CRASHED: 500,
  /** Deployed workflow code could not be loaded (syntax error, no workflow function, bad import). */
  WORKFLOW_LOAD_FAILED: 500,
  /** A flow `http.request` node got a non-2xx response, or no response (network error, timeout). */
  HTTP_REQUEST_FAILED: 502,
  /** A flow `email.send` node could not hand the message to the SMTP server. */
  EMAIL_SEND_FAILED: 502,
  /** A flow `llm` node's model endpoint failed or answered with something unusable. */
  LLM_REQUEST_FAILED: 502,
  /** A flow node plugin module could not be loaded or does not export a node type. */
  PLUGIN_LOAD_FAILED: 500,
  // Access.
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  /** The request's Host header names no host this server answers for (DNS rebinding defence). */
  HOST_NOT_ALLOWED: 421,
  /** A browser request from another origin (Origin or Sec-Fetch-Site), or a cookie request without proof of the same origin. */
  CROSS_ORIGIN_FORBIDDEN: 403,
  /** A JSON route got a body that is not declared `Content-Type: application/json`. */
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** Too many open live streams (for this token, or on the server). */
  TOO_MANY_STREAMS: 429,
  // Infrastructure.
  STORE_UNAVAILABLE: 503,
  SERVER_UNAVAILABLE: 503,
  MIGRATION_FAILED: 500,
  /** `kiln db migrate|restore` into a database or file that already holds data (without --force). */
  TARGET_NOT_EMPTY: 409,
  WORKER_STOPPED: 503,
  INTERNAL: 500,
  // Webhooks.
  /** No incoming webhook endpoint of that name in the namespace. */
  WEBHOOK_NOT_FOUND: 404,
  /** No outgoing webhook subscription with that id in the namespace. */
  WEBHOOK_SUBSCRIPTION_NOT_FOUND: 404,
  /** No webhook delivery with that id in the namespace. */
  WEBHOOK_DELIVERY_NOT_FOUND: 404,
  /** An incoming webhook's signature is missing, malformed, stale (replay window) or wrong. */
  WEBHOOK_SIGNATURE_INVALID: 401,
  /** An incoming webhook's signing secret is not set in the namespace's secrets. */
  WEBHOOK_SECRET_MISSING: 503,
  /** An external secret manager (HashiCorp Vault, AWS Secrets Manager) could not be reached or refused the login. */
  SECRET_PROVIDER_UNAVAILABLE: 503,
  /** Another `kiln dev` already serves this data directory. */
  DEV_ALREADY_RUNNING: 409,
  /** A task kind's requirements could not be installed (pip or npm failed); the data holds its output. */
  DEPENDENCY_BUILD_FAILED: 500,
  /** A task kind's remote source (git, HTTP, S3) could not be fetched. */
  SOURCE_FETCH_FAILED: 502,
  /** A fetched script's sha256 differs from the one in config: it is refused, not run. */
  SOURCE_CHECKSUM_MISMATCH: 500,
  /** A flow `agent` node's model kept calling tools for more model calls than its `max_iterations`. */
  AGENT_MAX_ITERATIONS: 422,
  /** A flow `agent` node's conversation used more tokens than its `token_budget`. */
  AGENT_TOKEN_BUDGET: 422,
  /** A flow `embed` node's embeddings endpoint failed or answered with something unusable. */
  EMBED_REQUEST_FAILED: 502,
  /** The vector nodes have no vector store: no database on this worker, or PostgreSQL without the pgvector extension. */
  VECTOR_STORE_UNAVAILABLE: 503,
  /** Vectors of a different length than the ones already in the collection. */
  VECTOR_DIMENSION_MISMATCH: 400,
  /** No account (user) of that name. */
  ACCOUNT_NOT_FOUND: 404,
  /** An account of that name already exists. */
  ACCOUNT_EXISTS: 409,
  /** A task kind's sandbox asks for isolation this machine cannot give (refused when the kind is loaded). */
  SANDBOX_UNAVAILABLE: 400,
  /** The sandbox of an attempt could not be set up (cgroup, mount, namespace). */
  SANDBOX_FAILED: 500,
  /** A sandboxed script was killed for going over its memory limit. */
  SANDBOX_MEMORY_LIMIT: 500,
  /** The Cloudflare API refused a Worker upload or delete (account, token, or quota). */
  CLOUDFLARE_API_FAILED: 502,
  /** A flow storage node could not read or write its object store (S3 error, I/O error). */
  STORAGE_FAILED: 502,
  /** A flow storage node found no object under the key or reference it was given. */
  STORAGE_NOT_FOUND: 404,
  /** An object read by reference no longer has the sha256 the reference recorded. */
  STORAGE_INTEGRITY_FAILED: 409,
  /** A flow `email.receive` node could not read the mailbox (IMAP error, bad login). */
  EMAIL_RECEIVE_FAILED: 502,
  /** `kiln nodes show` was given a node type the library does not hold. */
  NODE_TYPE_NOT_FOUND: 404,
} as const satisfies Record<string, number>;

/** A stable Kiln error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options of a KilnError beyond code and message. */
export interface KilnErrorOptions {
  readonly cause?: unknown;
  /** Whether retrying the same operation may succeed. Defaults per code (see isRetryableCode). */
  readonly retryable?: boolean;
  /** Structured data for callers and API bodies (never secrets). */
  readonly data?: Readonly<Record<string, unknown>>;
}

const NON_RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "INVALID_INPUT",
  "INVALID_JSON",
  "INVALID_CONFIG",
  "INVALID_DURATION",
  "PAYLOAD_TOO_LARGE",
  "PATH_NOT_ALLOWED",
  "CONFIG_NOT_FOUND",
  "CONFIG_VARIABLE_UNSET",
  "RUN_NOT_FOUND",
  "WORKFLOW_NOT_FOUND",
  "TASK_KIND_NOT_FOUND",
  "NAMESPACE_NOT_FOUND",
  "NON_DETERMINISTIC",
  "INVALID_STATE_TRANSITION",
  "RUN_CANCELLED",
  "EXEC_NOT_FOUND",
  "EXEC_PERMISSION_DENIED",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "HOST_NOT_ALLOWED",
  "CROSS_ORIGIN_FORBIDDEN",
  "UNSUPPORTED_MEDIA_TYPE",
  "IDEMPOTENCY_CONFLICT",
  "WORKFLOW_VERSION_EXISTS",
  "EXPRESSION_FAILED",
  "VISIT_LIMIT_EXCEEDED",
  "ACTIVATION_TIMEOUT",
  "WORKFLOW_LOAD_FAILED",
  "PLUGIN_LOAD_FAILED",
  "SCHEDULE_NOT_FOUND",
  // A missing secret stays missing until someone sets it: retrying only delays the error.
  "SECRET_NOT_FOUND",
  "DEV_ALREADY_RUNNING",
  // The same requirements fail the same way; the installer's output says what to change.
  "DEPENDENCY_BUILD_FAILED",
  "SOURCE_CHECKSUM_MISMATCH",
  "SANDBOX_UNAVAILABLE",
]);

/** Whether an error with this code is worth retrying by default. */
export function isRetryableCode(code: ErrorCode): boolean {
  return !NON_RETRYABLE_CODES.has(code);
}

/** The one error class of Kiln: a stable code, a message that says what to fix, optional data. */
export class KilnError extends Error {
  override readonly name = "KilnError";
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly data: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? isRetryableCode(code);
    this.data = options.data;
  }

  /** The HTTP status this error maps to at the API edge. */
  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }

  /** The serializable form stored on runs and steps and returned by the API. */
  toJSON(): SerializedError {
    return serializeError(this);
  }
}

/** An error as stored on a run or step and sent over the wire. */
export interface SerializedError {
  readonly code: string;
  readonly message: string;
  readonly retryable?: boolean;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly stack?: string;
}

/** Whether a value is a KilnError (also across module copies, by shape). */
export function isKilnError(value: unknown): value is KilnError {
  return value instanceof KilnError;
}

/** Whether an unknown value is a KilnError with the given code. */
export function hasCode(value: unknown, code: ErrorCode): boolean {
  return isKilnError(value) && value.code === code;
}

/** Turns anything thrown into the stored error shape; non-Kiln errors get `fallbackCode`. */
export function serializeError(error: unknown, fallbackCode: ErrorCode = "STEP_FAILED"): SerializedError {
  if (error instanceof KilnError) {
    return {
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      ...(error.data === undefined ? {} : { data: error.data }),
    };
  }
  if (error instanceof Error) {
    const named = error.name && error.name !== "Error" ? `${error.name}: ` : "";
    return {
      code: fallbackCode,
      message: `${named}${error.message}`,
      ...(error.stack === undefined ? {} : { stack: error.stack }),
    };
  }
  return { code: fallbackCode, message: typeof error === "string" ? error : (JSON.stringify(error) ?? String(error)) };
}

/** Turns a stored error back into a throwable KilnError (code kept when it is a known one). */
export function deserializeError(error: SerializedError): KilnError {
  const code = (error.code in ERROR_CODES ? error.code : "STEP_FAILED") as ErrorCode;
  return new KilnError(code, error.message, {
    ...(error.retryable === undefined ? {} : { retryable: error.retryable }),
    ...(error.data === undefined ? {} : { data: error.data }),
  });
}
