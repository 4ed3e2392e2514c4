import { KilnError } from "../errors.ts";
import { newId } from "../engine/ids.ts";
import type { RunStatus } from "../engine/status.ts";
import {
  ALL_NAMESPACES,
  COMPUTE_ADAPTERS,
  type ApiToken,
  type ControlStore,
  type CreatedToken,
  type CreateNamespaceResult,
  type CreateTokenParams,
  type DeploymentInfo,
  type DeployWorkflowParams,
  type DeployWorkflowResult,
  type Namespace,
  type PutSecretParams,
  type RegisterWorkerParams,
  type ReplaceSecretCipher,
  type RunCount,
  type SecretInfo,
  type SecretRecord,
  TOKEN_ROLES,
  WORKFLOW_RUNTIMES,
  type WorkerRegistration,
  type WorkflowDeployment,
  type ImportTokenParams,
  type WorkflowPage,
} from "./control-store.ts";
import {
  DEPLOYMENT_SELECT,
  type DeploymentRow,
  type NamespaceRow,
  newTokenPlaintext,
  type SecretRow,
  sha256Hex,
  TOKEN_SELECT,
  type TokenRow,
  toDeployment,
  toNamespace,
  toSecretInfo,
  toSecretRecord,
  toToken,
  toWorker,
  type WorkerRow,
} from "./sql-control-rows.ts";
import { expectName, expectNamespaceName, expectSecretName, invalid, VERSION, WORKFLOW_NAME } from "../engine/names.ts";
import { containsPattern } from "./workflow-registry.ts";
import type { DeploymentNotification } from "./control-store.ts";

/** The notification channel of new workflow deployments (LISTEN/NOTIFY on PostgreSQL). */
export const DEPLOYMENTS_CHANNEL = "kiln_deployments";
import { inList, rowsSource, type SqlDriver, type SqlExecutor } from "./sql-driver.ts";

export { newTokenPlaintext, sha256Hex } from "./sql-control-rows.ts";

/**
 * The control-plane half of the SQL store (ControlStore), written once over the driver for both
 * dialects. SqlStore delegates to it. Every method is one statement or one transaction.
 */
export class SqlControl implements ControlStore {
  readonly #db: SqlDriver;
  readonly #clock: () => number;

  constructor(driver: SqlDriver, clock: () => number) {
    this.#db = driver;
    this.#clock = clock;
  }

  /** Serializes writers of one key inside a transaction (PostgreSQL; SQLite transactions are serial). */
  async #lock(tx: SqlExecutor, key: string): Promise<void> {
    if (this.#db.dialect === "postgres") await tx.all("SELECT pg_advisory_xact_lock(3, hashtext(?::text))", [key]);
  }

  // ── namespaces ──────────────────────────────────────────────────────────────────────────────

  async createNamespace(p: Readonly<{ name: string; description?: string | null }>): Promise<CreateNamespaceResult> {
    const name = expectNamespaceName(p.name);
    const inserted = await this.#db.all<NamespaceRow>(
      `INSERT INTO namespaces (name, description, created_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO NOTHING RETURNING name, description, created_at`,
      [name, p.description ?? null, this.#clock()],
    );
    const row = inserted[0];
    if (row) return { namespace: toNamespace(row), created: true };
    const existing = await this.getNamespace({ name });
    if (!existing) throw new KilnError("INTERNAL", `Namespace "${name}" vanished while being created`);
    return { namespace: existing, created: false };
  }

  async listNamespaces(): Promise<Namespace[]> {
    const rows = await this.#db.all<NamespaceRow>("SELECT name, description, created_at FROM namespaces ORDER BY name");
    return rows.map(toNamespace);
  }

  async getNamespace(p: Readonly<{ name: string }>): Promise<Namespace | undefined> {
    const [row] = await this.#db.all<NamespaceRow>(
      "SELECT name, description, created_at FROM namespaces WHERE name = ?",
      [p.name],
    );
    return row ? toNamespace(row) : undefined;
  }

  // ── tokens ──────────────────────────────────────────────────────────────────────────────────

  async createToken(p: Readonly<CreateTokenParams>): Promise<CreatedToken> {
    const name = typeof p.name === "string" ? p.name.trim() : "";
    if (name === "" || name.length > 200) {
      throw invalid(`Expected the token "name" to be 1-200 characters, got ${JSON.stringify(p.name)}`);
    }
    if (!(TOKEN_ROLES as readonly string[]).includes(p.role)) {
      throw invalid(`Expected "role" to be one of ${TOKEN_ROLES.join(", ")}, got ${JSON.stringify(p.role)}`);
    }
    const namespace = p.namespace === ALL_NAMESPACES ? ALL_NAMESPACES : expectNamespaceName(p.namespace);
    const plaintext = newTokenPlaintext();
    const token: ApiToken = {
      id: newId(),
      name,
      namespace,
      role: p.role,
      prefix: plaintext.slice(0, 12),
      createdAt: this.#clock(),
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.#db.run(
      `INSERT INTO api_tokens (id, name, namespace, role, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [token.id, name, namespace, token.role, sha256Hex(plaintext), token.prefix, token.createdAt],
    );
    return { token, plaintext };
  }

  async listTokens(p: Readonly<{ namespace?: string }>): Promise<ApiToken[]> {
    const rows =
      p.namespace === undefined
        ? await this.#db.all<TokenRow>(`SELECT ${TOKEN_SELECT} FROM api_tokens ORDER BY created_at, id`)
        : await this.#db.all<TokenRow>(
            `SELECT ${TOKEN_SELECT} FROM api_tokens WHERE namespace = ? ORDER BY created_at, id`,
            [p.namespace],
          );
    return rows.map(toToken);
  }

  async revokeToken(p: Readonly<{ id: string; namespace?: string }>): Promise<ApiToken> {
    const scope = p.namespace === undefined ? "" : " AND namespace = ?";
    const args = p.namespace === undefined ? [p.id] : [p.id, p.namespace];
    await this.#db.run(`UPDATE api_tokens SET revoked_at = ? WHERE id = ?${scope} AND revoked_at IS NULL`, [
      this.#clock(),
      ...args,
    ]);
    const [row] = await this.#db.all<TokenRow>(`SELECT ${TOKEN_SELECT} FROM api_tokens WHERE id = ?${scope}`, args);
    if (!row) {
      throw new KilnError(
        "TOKEN_NOT_FOUND",
        `No token ${p.id}${p.namespace === undefined ? "" : ` in namespace "${p.namespace}"`}`,
      );
    }
    return toToken(row);
  }

  async importToken(p: Readonly<ImportTokenParams>): Promise<ApiToken> {
    const roles = [p.role, ...(p.extraRoles ?? [])];
    const bad = roles.find((role) => !(TOKEN_ROLES as readonly string[]).includes(role));
    if (bad !== undefined) {
      throw invalid(`Expected every role to be one of ${TOKEN_ROLES.join(", ")}, got ${JSON.stringify(bad)}`);
    }
    if (typeof p.plaintext !== "string" || p.plaintext.length < 16 || p.plaintext.length > 512) {
      throw invalid("Expected the token to be 16-512 characters; a short token is easy to guess");
    }
    const namespace = p.namespace === ALL_NAMESPACES ? ALL_NAMESPACES : expectNamespaceName(p.namespace);
    const name = typeof p.name === "string" && p.name.trim() !== "" ? p.name.trim().slice(0, 200) : "imported";
    const hash = sha256Hex(p.plaintext);
    const extra = [...new Set(p.extraRoles ?? [])].filter((role) => role !== p.role).join(",");
    const existing = await this.findToken({ hash });
    if (existing?.revokedAt != null) {
      throw invalid(`The token named "${existing.name}" was revoked; choose a new token instead of reviving it`);
    }
    if (existing) {
      await this.#db.run("UPDATE api_tokens SET name = ?, namespace = ?, role = ?, extra_roles = ? WHERE id = ?", [
        name,
        namespace,
        p.role,
        extra,
        existing.id,
      ]);
    } else {
      await this.#db.run(
        `INSERT INTO api_tokens (id, name, namespace, role, extra_roles, token_hash, prefix, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (token_hash) DO NOTHING`,
        [newId(), name, namespace, p.role, extra, hash, p.plaintext.slice(0, 4), this.#clock()],
      );
    }
    const stored = await this.findToken({ hash });
    if (!stored) throw new KilnError("INTERNAL", `The token "${name}" vanished while being imported`);
    return stored;
  }

  async findToken(p: Readonly<{ hash: string }>): Promise<ApiToken | undefined> {
    const [row] = await this.#db.all<TokenRow>(`SELECT ${TOKEN_SELECT} FROM api_tokens WHERE token_hash = ?`, [p.hash]);
    return row ? toToken(row) : undefined;
  }

  async touchTokens(p: Readonly<{ ids: readonly string[] }>): Promise<void> {
    if (p.ids.length === 0) return;
    const list = inList(this.#db.dialect, [...new Set(p.ids)]);
    await this.#db.run(`UPDATE api_tokens SET last_used_at = ? WHERE id ${list.sql}`, [this.#clock(), ...list.params]);
  }

  // ── secrets ─────────────────────────────────────────────────────────────────────────────────

  async putSecret(p: Readonly<PutSecretParams>): Promise<{ readonly secret: SecretInfo; readonly created: boolean }> {
    const name = expectSecretName(p.name);
    const now = this.#clock();
    return this.#db.transaction(async (tx) => {
      const [existing] = await tx.all<{ created_at: number }>(
        `SELECT created_at FROM secrets WHERE namespace = ? AND name = ?${this.#db.dialect === "postgres" ? " FOR UPDATE" : ""}`,
        [p.namespace, name],
      );
      await tx.run(
        `INSERT INTO secrets (namespace, name, ciphertext, iv, auth_tag, key_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (namespace, name) DO UPDATE SET ciphertext = excluded.ciphertext, iv = excluded.iv,
           auth_tag = excluded.auth_tag, key_id = excluded.key_id, updated_at = excluded.updated_at`,
        [p.namespace, name, p.ciphertext, p.iv, p.authTag, p.keyId, now, now],
      );
      const createdAt = existing?.created_at ?? now;
      return {
        secret: { namespace: p.namespace, name, keyId: p.keyId, createdAt, updatedAt: now },
        created: existing === undefined,
      };
    });
  }

  async getSecrets(p: Readonly<{ namespace: string; names: readonly string[] }>): Promise<SecretRecord[]> {
    if (p.names.length === 0) return [];
    const list = inList(this.#db.dialect, [...new Set(p.names)]);
    const rows = await this.#db.all<SecretRow>(
      `SELECT * FROM secrets WHERE namespace = ? AND name ${list.sql} ORDER BY name`,
      [p.namespace, ...list.params],
    );
    return rows.map(toSecretRecord);
  }

  async listSecrets(p: Readonly<{ namespace: string }>): Promise<SecretInfo[]> {
    const rows = await this.#db.all<SecretRow>(
      "SELECT namespace, name, key_id, created_at, updated_at FROM secrets WHERE namespace = ? ORDER BY name",
      [p.namespace],
    );
    return rows.map(toSecretInfo);
  }

  async listSecretRecords(): Promise<SecretRecord[]> {
    const rows = await this.#db.all<SecretRow>("SELECT * FROM secrets ORDER BY namespace, name");
    return rows.map(toSecretRecord);
  }

  async deleteSecret(p: Readonly<{ namespace: string; name: string }>): Promise<boolean> {
    return (await this.#db.run("DELETE FROM secrets WHERE namespace = ? AND name = ?", [p.namespace, p.name])) > 0;
  }

  async replaceSecretCiphers(p: Readonly<{ items: readonly ReplaceSecretCipher[] }>): Promise<number> {
    if (p.items.length === 0) return 0;
    const src = rowsSource(
      this.#db.dialect,
      [
        ["ns", "text"],
        ["nm", "text"],
        ["ct", "text"],
        ["iv", "text"],
        ["tag", "text"],
        ["kid", "text"],
        ["prev", "text"],
      ],
      p.items.map((i) => [i.namespace, i.name, i.ciphertext, i.iv, i.authTag, i.keyId, i.previousKeyId]),
    );
    return this.#db.transaction(async (tx) =>
      tx.run(
        `UPDATE secrets AS t SET ciphertext = v.ct, iv = v.iv, auth_tag = v.tag, key_id = v.kid
         FROM ${src.sql} WHERE t.namespace = v.ns AND t.name = v.nm AND t.key_id = v.prev`,
        src.params,
      ),
    );
  }

  // ── workflow deployments ────────────────────────────────────────────────────────────────────

  async deployWorkflow(p: Readonly<DeployWorkflowParams>): Promise<DeployWorkflowResult> {
    const name = expectName("name", p.name, WORKFLOW_NAME, "a workflow name (letters, digits, _ . : -)");
    if (p.version !== undefined) expectName("version", p.version, VERSION, "a version (letters, digits, _ . + -)");
    if (!(WORKFLOW_RUNTIMES as readonly string[]).includes(p.runtime)) {
      throw invalid(
        `Expected "runtime" to be one of ${WORKFLOW_RUNTIMES.join(", ")}, got ${JSON.stringify(p.runtime)}`,
      );
    }
    if (typeof p.source !== "string" || p.source.trim() === "") {
      throw invalid(`Expected "source" to be the workflow's non-empty source text`);
    }
    const adapter = p.adapter ?? null;
    if (adapter !== null && !(COMPUTE_ADAPTERS as readonly string[]).includes(adapter)) {
      throw invalid(`Expected "adapter" to be one of ${COMPUTE_ADAPTERS.join(", ")}, got ${JSON.stringify(adapter)}`);
    }
    const contentHash = sha256Hex(p.source);
    return this.#db.transaction(async (tx) => {
      await this.#lock(tx, `deploy/${p.namespace}/${name}`);
      const rows = await tx.all<DeploymentRow>(
        `SELECT ${DEPLOYMENT_SELECT} FROM workflow_deployments WHERE namespace = ? AND name = ? ORDER BY seq DESC`,
        [p.namespace, name],
      );
      const latest = rows[0];
      if (p.version !== undefined) {
        const same = rows.find((r) => r.version === p.version);
        if (same) {
          if (same.content_hash === contentHash) return { deployment: toDeployment(same), created: false };
          throw new KilnError(
            "WORKFLOW_VERSION_EXISTS",
            `Workflow "${name}" version ${p.version} is already deployed with other source; deploy a new version`,
            { data: { name, version: p.version, contentHash: same.content_hash } },
          );
        }
      } else if (
        latest &&
        latest.content_hash === contentHash &&
        latest.runtime === p.runtime &&
        latest.adapter === adapter
      ) {
        return { deployment: toDeployment(latest), created: false };
      }
      const version =
        p.version ?? String(1 + Math.max(0, ...rows.map((r) => (/^\d+$/.test(r.version) ? Number(r.version) : 0))));
      const row: DeploymentRow = {
        namespace: p.namespace,
        name,
        version,
        seq: (latest?.seq ?? 0) + 1,
        runtime: p.runtime,
        content_hash: contentHash,
        description: p.description ?? null,
        adapter,
        created_at: this.#clock(),
      };
      await tx.run(
        `INSERT INTO workflow_deployments (namespace, name, version, seq, runtime, source, content_hash, description, adapter, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          row.namespace,
          name,
          version,
          row.seq,
          row.runtime,
          p.source,
          contentHash,
          row.description,
          row.adapter,
          row.created_at,
        ],
      );
      // Sent at commit, to every server on the database: claims waiting there wake and ask again.
      await tx.notify(DEPLOYMENTS_CHANNEL, JSON.stringify({ namespace: p.namespace, name }));
      return { deployment: toDeployment(row), created: true };
    });
  }

  async subscribeDeployments(listener: (n: DeploymentNotification) => void): Promise<() => Promise<void>> {
    return this.#db.listen(DEPLOYMENTS_CHANNEL, (payload) => {
      let note: { namespace?: unknown; name?: unknown };
      try {
        note = JSON.parse(payload) as typeof note;
      } catch {
        return;
      }
      if (typeof note.namespace === "string" && typeof note.name === "string") {
        listener({ namespace: note.namespace, name: note.name });
      }
    });
  }

  async listWorkflows(
    p: Readonly<{ namespace: string; limit?: number; cursor?: string; search?: string }>,
  ): Promise<WorkflowPage> {
    const limit = Math.min(Math.max(Math.floor(p.limit ?? 100), 1), 1000);
    const cols = DEPLOYMENT_SELECT.split(", ")
      .map((c) => `d.${c}`)
      .join(", ");
    const search = p.search === undefined || p.search === "" ? undefined : containsPattern(p.search);
    const rows = await this.#db.all<DeploymentRow>(
      `SELECT ${cols}, c.n AS versions FROM workflow_deployments AS d
       JOIN (SELECT name, MAX(seq) AS seq, COUNT(*) AS n FROM workflow_deployments WHERE namespace = ? GROUP BY name) AS c
         ON d.name = c.name AND d.seq = c.seq
       WHERE d.namespace = ? AND d.name > ?${
         search === undefined
           ? ""
           : ` AND (LOWER(d.name) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(d.description, '')) LIKE ? ESCAPE '\\')`
       } ORDER BY d.name LIMIT ?`,
      [p.namespace, p.namespace, p.cursor ?? "", ...(search === undefined ? [] : [search, search]), limit + 1],
    );
    const page = rows.slice(0, limit);
    return {
      workflows: page.map((r) => ({ ...toDeployment(r), versions: Number(r.versions ?? 1) })),
      nextCursor: rows.length > limit ? (page.at(-1)?.name ?? null) : null,
    };
  }

  async listWorkflowVersions(p: Readonly<{ namespace: string; name: string }>): Promise<DeploymentInfo[]> {
    const rows = await this.#db.all<DeploymentRow>(
      `SELECT ${DEPLOYMENT_SELECT} FROM workflow_deployments WHERE namespace = ? AND name = ? ORDER BY seq DESC`,
      [p.namespace, p.name],
    );
    return rows.map(toDeployment);
  }

  async getWorkflow(
    p: Readonly<{ namespace: string; name: string; version?: string }>,
  ): Promise<WorkflowDeployment | undefined> {
    const [row] =
      p.version === undefined
        ? await this.#db.all<DeploymentRow & { source: string }>(
            `SELECT ${DEPLOYMENT_SELECT}, source FROM workflow_deployments WHERE namespace = ? AND name = ?
             ORDER BY seq DESC LIMIT 1`,
            [p.namespace, p.name],
          )
        : await this.#db.all<DeploymentRow & { source: string }>(
            `SELECT ${DEPLOYMENT_SELECT}, source FROM workflow_deployments WHERE namespace = ? AND name = ? AND version = ?`,
            [p.namespace, p.name, p.version],
          );
    return row ? { ...toDeployment(row), source: row.source } : undefined;
  }

  // ── workers ─────────────────────────────────────────────────────────────────────────────────

  async registerWorker(p: Readonly<RegisterWorkerParams>): Promise<WorkerRegistration> {
    if (typeof p.name !== "string" || p.name === "" || p.name.length > 200) {
      throw invalid(`Expected the worker "name" to be 1-200 characters, got ${JSON.stringify(p.name)}`);
    }
    const now = this.#clock();
    const registration: WorkerRegistration = {
      namespace: p.namespace,
      name: p.name,
      version: p.version,
      queues: [...p.queues],
      kinds: p.kinds.map((k) => ({ kind: k.kind, settings: { ...k.settings } })),
      workflows: [...(p.workflows ?? [])],
      concurrency: p.concurrency ?? null,
      startedAt: now,
      lastHeartbeatAt: now,
    };
    await this.#db.run(
      `INSERT INTO workers (namespace, name, version, queues, kinds, workflows, concurrency, started_at, last_heartbeat_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (namespace, name) DO UPDATE SET version = excluded.version, queues = excluded.queues,
         kinds = excluded.kinds, workflows = excluded.workflows, concurrency = excluded.concurrency,
         started_at = excluded.started_at, last_heartbeat_at = excluded.last_heartbeat_at`,
      [
        p.namespace,
        p.name,
        p.version,
        JSON.stringify(registration.queues),
        JSON.stringify(registration.kinds),
        JSON.stringify(registration.workflows),
        registration.concurrency,
        now,
        now,
      ],
    );
    if (p.releaseLeases === true) {
      // Expired leases are claimed first (and fenced by the new lease token), as after a timeout.
      await this.#db.run(
        "UPDATE runs SET lease_expires_at = ? WHERE namespace = ? AND lease_owner = ? AND lease_expires_at > ?",
        [now, p.namespace, p.name, now],
      );
    }
    return registration;
  }

  async heartbeatWorker(p: Readonly<{ namespace: string; name: string }>): Promise<boolean> {
    const changed = await this.#db.run("UPDATE workers SET last_heartbeat_at = ? WHERE namespace = ? AND name = ?", [
      this.#clock(),
      p.namespace,
      p.name,
    ]);
    return changed > 0;
  }

  async unregisterWorker(p: Readonly<{ namespace: string; name: string }>): Promise<boolean> {
    return (await this.#db.run("DELETE FROM workers WHERE namespace = ? AND name = ?", [p.namespace, p.name])) > 0;
  }

  async listWorkers(p: Readonly<{ namespace?: string }>): Promise<WorkerRegistration[]> {
    const rows =
      p.namespace === undefined
        ? await this.#db.all<WorkerRow>("SELECT * FROM workers ORDER BY namespace, name")
        : await this.#db.all<WorkerRow>("SELECT * FROM workers WHERE namespace = ? ORDER BY name", [p.namespace]);
    return rows.map(toWorker);
  }

  async pruneWorkers(p: Readonly<{ heartbeatBefore: number }>): Promise<number> {
    return this.#db.run("DELETE FROM workers WHERE last_heartbeat_at < ?", [p.heartbeatBefore]);
  }

  // ── observability and access checks ─────────────────────────────────────────────────────────

  async countRuns(p: Readonly<{ namespace?: string }>): Promise<RunCount[]> {
    const rows = await this.#db.all<{ namespace: string; queue: string; status: string; n: number }>(
      `SELECT namespace, queue, status, COUNT(*) AS n FROM runs${p.namespace === undefined ? "" : " WHERE namespace = ?"}
       GROUP BY namespace, queue, status ORDER BY namespace, queue, status`,
      p.namespace === undefined ? [] : [p.namespace],
    );
    return rows.map((r) => ({
      namespace: r.namespace,
      queue: r.queue,
      status: r.status as RunStatus,
      count: Number(r.n),
    }));
  }

  async getRunNamespaces(p: Readonly<{ ids: readonly string[] }>): Promise<Map<string, string>> {
    if (p.ids.length === 0) return new Map();
    const list = inList(this.#db.dialect, [...new Set(p.ids)]);
    const rows = await this.#db.all<{ id: string; namespace: string }>(
      `SELECT id, namespace FROM runs WHERE id ${list.sql}`,
      list.params,
    );
    return new Map(rows.map((r) => [r.id, r.namespace]));
  }
}
