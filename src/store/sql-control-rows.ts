import { createHash, randomBytes } from "node:crypto";
import type {
  ComputeAdapterName,
  ApiToken,
  DeploymentInfo,
  Namespace,
  SecretInfo,
  SecretRecord,
  TokenRole,
  WorkerKind,
  WorkerRegistration,
  WorkflowRuntime,
} from "./control-store.ts";

/** Rows of the control-plane tables (migration 2) and their domain forms. */

/** Hex SHA-256 of a text: token hashes and workflow content hashes. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** A fresh token plaintext: `kiln_` and 256 random bits (base64url). */
export function newTokenPlaintext(): string {
  return `kiln_${randomBytes(32).toString("base64url")}`;
}

export interface NamespaceRow {
  name: string;
  description: string | null;
  created_at: number;
}
export interface TokenRow {
  id: string;
  name: string;
  namespace: string;
  role: string;
  extra_roles: string;
  prefix: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}
export interface SecretRow {
  namespace: string;
  name: string;
  ciphertext: string;
  iv: string;
  auth_tag: string;
  key_id: string;
  created_at: number;
  updated_at: number;
}
export interface DeploymentRow {
  namespace: string;
  name: string;
  version: string;
  seq: number;
  runtime: string;
  content_hash: string;
  description: string | null;
  adapter: string | null;
  created_at: number;
  source?: string;
  versions?: number;
}
export interface WorkerRow {
  namespace: string;
  name: string;
  version: string;
  queues: string;
  kinds: string;
  workflows: string;
  concurrency: number | null;
  started_at: number;
  last_heartbeat_at: number;
}

export const TOKEN_SELECT = "id, name, namespace, role, extra_roles, prefix, created_at, last_used_at, revoked_at";
export const DEPLOYMENT_SELECT =
  "namespace, name, version, seq, runtime, content_hash, description, adapter, created_at";

export const toNamespace = (r: NamespaceRow): Namespace => ({
  name: r.name,
  description: r.description,
  createdAt: r.created_at,
});

export const toToken = (r: TokenRow): ApiToken => ({
  id: r.id,
  name: r.name,
  namespace: r.namespace,
  role: r.role as TokenRole,
  ...(r.extra_roles ? { extraRoles: r.extra_roles.split(",") as TokenRole[] } : {}),
  prefix: r.prefix,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

export const toSecretInfo = (r: Omit<SecretRow, "ciphertext" | "iv" | "auth_tag">): SecretInfo => ({
  namespace: r.namespace,
  name: r.name,
  keyId: r.key_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export const toSecretRecord = (r: SecretRow): SecretRecord => ({
  ...toSecretInfo(r),
  ciphertext: r.ciphertext,
  iv: r.iv,
  authTag: r.auth_tag,
});

export const toDeployment = (r: DeploymentRow): DeploymentInfo => ({
  namespace: r.namespace,
  name: r.name,
  version: r.version,
  runtime: r.runtime as WorkflowRuntime,
  contentHash: r.content_hash,
  description: r.description,
  ...(r.adapter === null ? {} : { adapter: r.adapter as ComputeAdapterName }),
  createdAt: r.created_at,
});

export const toWorker = (r: WorkerRow): WorkerRegistration => ({
  namespace: r.namespace,
  name: r.name,
  version: r.version,
  queues: JSON.parse(r.queues) as string[],
  kinds: JSON.parse(r.kinds) as WorkerKind[],
  workflows: JSON.parse(r.workflows) as string[],
  concurrency: r.concurrency === null ? null : Number(r.concurrency),
  startedAt: r.started_at,
  lastHeartbeatAt: r.last_heartbeat_at,
});
