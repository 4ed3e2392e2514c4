import type { RunStatus } from "../engine/status.ts";
import { ADAPTER_NAMES } from "../config/compute-schema.ts";

/**
 * The control plane of the store: namespaces, API tokens, encrypted secrets, workflow deployments
 * and worker registrations. Part of `Store` (store.ts); written once in sql-control.ts for SQLite
 * and PostgreSQL and checked by control.contract.ts on both.
 */
export interface ControlStore {
  // ── Namespaces ──────────────────────────────────────────────────────────────────────────────
  /** Creates a namespace, or returns the existing one (`created: false`). `default` always exists. */
  createNamespace(p: Readonly<{ name: string; description?: string | null }>): Promise<CreateNamespaceResult>;
  listNamespaces(): Promise<Namespace[]>;
  getNamespace(p: Readonly<{ name: string }>): Promise<Namespace | undefined>;

  // ── API tokens ──────────────────────────────────────────────────────────────────────────────
  /** Creates a token; the plaintext (`kiln_…`) is in the result only, the store keeps its SHA-256. */
  createToken(p: Readonly<CreateTokenParams>): Promise<CreatedToken>;
  /** Tokens of one namespace (`*` tokens are their own namespace), or of all when omitted. */
  listTokens(p: Readonly<{ namespace?: string }>): Promise<ApiToken[]>;
  /**
   * Revokes a token (again: no change). With `namespace`, only a token of that namespace is
   * found; TOKEN_NOT_FOUND otherwise.
   */
  revokeToken(p: Readonly<{ id: string; namespace?: string }>): Promise<ApiToken>;
  /**
   * Stores a token whose plaintext the caller gives (a `kiln dev` config's `worker_token`), as its
   * hash like any other. Again with the same plaintext: the row is updated to these settings.
   * A revoked token is not revived: INVALID_INPUT says to choose another.
   */
  importToken(p: Readonly<ImportTokenParams>): Promise<ApiToken>;
  /** The token whose plaintext hashes to `hash` (hex SHA-256), revoked ones included. */
  findToken(p: Readonly<{ hash: string }>): Promise<ApiToken | undefined>;
  /** Records that tokens were used (at most one write per token per call). */
  touchTokens(p: Readonly<{ ids: readonly string[] }>): Promise<void>;

  // ── Secrets (ciphertext only: encryption happens in src/secrets) ────────────────────────────
  /** Creates or replaces a secret's ciphertext. */
  putSecret(p: Readonly<PutSecretParams>): Promise<{ readonly secret: SecretInfo; readonly created: boolean }>;
  getSecrets(p: Readonly<{ namespace: string; names: readonly string[] }>): Promise<SecretRecord[]>;
  /** Secret names and metadata of one namespace (no ciphertext), by name. */
  listSecrets(p: Readonly<{ namespace: string }>): Promise<SecretInfo[]>;
  /** Every secret with its ciphertext, in every namespace (key rotation). */
  listSecretRecords(): Promise<SecretRecord[]>;
  /** Deletes a secret; false when there was none. */
  deleteSecret(p: Readonly<{ namespace: string; name: string }>): Promise<boolean>;
  /**
   * Replaces ciphertexts in one transaction, each only while the secret is still encrypted with
   * `previousKeyId` (a concurrent `putSecret` wins). Returns how many were replaced.
   */
  replaceSecretCiphers(p: Readonly<{ items: readonly ReplaceSecretCipher[] }>): Promise<number>;

  // ── Workflow deployments ────────────────────────────────────────────────────────────────────
  /**
   * Deploys a workflow version. Without `version`, the next integer after the highest integer
   * version. Source identical to the latest version is a no-op returning it (`created: false`);
   * an explicit version that exists with other source is WORKFLOW_VERSION_EXISTS.
   */
  deployWorkflow(p: Readonly<DeployWorkflowParams>): Promise<DeployWorkflowResult>;
  /**
   * Listens for new deployments (a deploy that created a version): in-process on SQLite, from
   * every process on the database through LISTEN/NOTIFY on PostgreSQL. Returns the unsubscribe function.
   */
  subscribeDeployments(listener: (n: DeploymentNotification) => void): Promise<() => Promise<void>>;
  /**
   * The latest version of each workflow of a namespace with its version count, by name. `search`
   * keeps those whose name or (latest) description contains it, ignoring case.
   */
  listWorkflows(
    p: Readonly<{ namespace: string; limit?: number; cursor?: string; search?: string }>,
  ): Promise<WorkflowPage>;
  /** Every version of a workflow, newest first (no source). */
  listWorkflowVersions(p: Readonly<{ namespace: string; name: string }>): Promise<DeploymentInfo[]>;
  /** A version with its source; the latest when `version` is omitted. */
  getWorkflow(
    p: Readonly<{ namespace: string; name: string; version?: string }>,
  ): Promise<WorkflowDeployment | undefined>;

  // ── Workers ─────────────────────────────────────────────────────────────────────────────────
  /** Registers (or re-registers) a worker by namespace + name; its heartbeat is now. */
  registerWorker(p: Readonly<RegisterWorkerParams>): Promise<WorkerRegistration>;
  /** Records a worker heartbeat; false when the worker is not registered. */
  heartbeatWorker(p: Readonly<{ namespace: string; name: string }>): Promise<boolean>;
  unregisterWorker(p: Readonly<{ namespace: string; name: string }>): Promise<boolean>;
  /** Workers of one namespace (or all), by name. */
  listWorkers(p: Readonly<{ namespace?: string }>): Promise<WorkerRegistration[]>;
  /** Forgets workers whose last heartbeat is older than `heartbeatBefore`. Returns how many. */
  pruneWorkers(p: Readonly<{ heartbeatBefore: number }>): Promise<number>;

  // ── Observability and access checks ─────────────────────────────────────────────────────────
  /** Run counts by namespace, queue and status (metrics). */
  countRuns(p: Readonly<{ namespace?: string }>): Promise<RunCount[]>;
  /** The namespace of each run that exists (unknown ids are left out). */
  getRunNamespaces(p: Readonly<{ ids: readonly string[] }>): Promise<Map<string, string>>;
}

/** The namespace every token's `*` scope defaults to, and that always exists. */
export const DEFAULT_NAMESPACE = "default";

/** The namespace of a token that may act in every namespace (the bootstrap admin). */
export const ALL_NAMESPACES = "*";

/** What a token may do (see src/server/auth.ts for the matrix). */
export const TOKEN_ROLES = ["admin", "developer", "viewer", "worker"] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** The compute adapters a deployment may ask for (src/runtimes/attach.ts builds them). */
export const COMPUTE_ADAPTERS = ADAPTER_NAMES;
export type ComputeAdapterName = (typeof COMPUTE_ADAPTERS)[number];

/** The runtimes a deployed workflow can have. */
export const WORKFLOW_RUNTIMES = ["node", "python", "flow"] as const;
export type WorkflowRuntime = (typeof WORKFLOW_RUNTIMES)[number];

/** A tenant boundary. */
export interface Namespace {
  readonly name: string;
  readonly description: string | null;
  readonly createdAt: number;
}

/** The namespace and whether this call created it. */
export interface CreateNamespaceResult {
  readonly namespace: Namespace;
  readonly created: boolean;
}

/** Params of createToken. */
export interface CreateTokenParams {
  readonly name: string;
  /** A namespace, or `*` (every namespace). */
  readonly namespace: string;
  readonly role: TokenRole;
}

/** Params of importToken. */
export interface ImportTokenParams extends CreateTokenParams {
  /** The token's plaintext (at least 16 characters); only its hash is stored. */
  readonly plaintext: string;
  /** Roles the token has besides `role`. */
  readonly extraRoles?: readonly TokenRole[];
}

/** An API token as stored (never its plaintext). */
export interface ApiToken {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly role: TokenRole;
  /** Roles besides `role` (absent: none). */
  readonly extraRoles?: readonly TokenRole[];
  /** The first characters of the plaintext, to recognize a token in lists. */
  readonly prefix: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

/** A new token and its plaintext, which is shown once and never stored. */
export interface CreatedToken {
  readonly token: ApiToken;
  readonly plaintext: string;
}

/** Params of putSecret: AES-256-GCM output, base64. */
export interface PutSecretParams {
  readonly namespace: string;
  readonly name: string;
  readonly ciphertext: string;
  readonly iv: string;
  readonly authTag: string;
  /** Which master key encrypted it. */
  readonly keyId: string;
}

/** A stored secret (encrypted). */
export interface SecretRecord extends PutSecretParams {
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A secret without its ciphertext (lists). */
export interface SecretInfo {
  readonly namespace: string;
  readonly name: string;
  readonly keyId: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One re-encrypted secret. */
export interface ReplaceSecretCipher extends PutSecretParams {
  readonly previousKeyId: string;
}

/** A new version of workflow `name` was deployed in `namespace`. */
export interface DeploymentNotification {
  readonly namespace: string;
  readonly name: string;
}

/** Params of deployWorkflow. */
export interface DeployWorkflowParams {
  readonly namespace: string;
  readonly name: string;
  /** Default: the next integer version. */
  readonly version?: string;
  readonly runtime: WorkflowRuntime;
  readonly source: string;
  readonly description?: string | null;
  /** Where its hosts must run; omitted: any worker's adapter. */
  readonly adapter?: ComputeAdapterName | null;
}

/** A deployed workflow version without its source. */
export interface DeploymentInfo {
  readonly namespace: string;
  readonly name: string;
  readonly version: string;
  readonly runtime: WorkflowRuntime;
  /** Hex SHA-256 of the source. */
  readonly contentHash: string;
  readonly description: string | null;
  /** The compute adapter its hosts must run on (`kiln deploy -a`); absent: any. */
  readonly adapter?: ComputeAdapterName;
  readonly createdAt: number;
}

/** A deployed workflow version with its source. */
export interface WorkflowDeployment extends DeploymentInfo {
  readonly source: string;
}

/** The deployed version, and whether this call created it. */
export interface DeployWorkflowResult {
  readonly deployment: DeploymentInfo;
  readonly created: boolean;
}

/** A workflow: its latest version and how many versions exist. */
export interface WorkflowSummary extends DeploymentInfo {
  readonly versions: number;
}

/** One page of workflows (by name). */
export interface WorkflowPage {
  readonly workflows: WorkflowSummary[];
  readonly nextCursor: string | null;
}

/** A task kind a worker serves, with its settings (script config: command, timeouts, …). */
export interface WorkerKind {
  readonly kind: string;
  readonly settings: Readonly<Record<string, unknown>>;
}

/** Params of registerWorker. */
export interface RegisterWorkerParams {
  readonly namespace: string;
  /** The worker's lease owner name. */
  readonly name: string;
  /** The Kiln version the worker runs. */
  readonly version: string;
  readonly queues: readonly string[];
  readonly kinds: readonly WorkerKind[];
  /** Workflow names the worker can execute. */
  readonly workflows?: readonly string[];
  /**
   * The registering process replaces a previous process of this worker that is gone (see
   * worker/worker-instance.ts): the leases held under this name expire now, so that their runs
   * can be claimed at once instead of after the lease time.
   */
  readonly releaseLeases?: boolean;
  /** How many runs the worker executes at once. */
  readonly concurrency?: number;
}

/** A registered worker. */
export interface WorkerRegistration {
  readonly namespace: string;
  readonly name: string;
  readonly version: string;
  readonly queues: readonly string[];
  readonly kinds: readonly WorkerKind[];
  readonly workflows: readonly string[];
  /** How many runs it executes at once (null: a worker that did not say). */
  readonly concurrency: number | null;
  readonly startedAt: number;
  readonly lastHeartbeatAt: number;
}

/** How many runs of a namespace and queue have a status. */
export interface RunCount {
  readonly namespace: string;
  readonly queue: string;
  readonly status: RunStatus;
  readonly count: number;
}
