import { createHash } from "node:crypto";
import type { Run } from "../engine/run.ts";
import { KilnError } from "../errors.ts";
import type { ActivateWorkflow, WorkflowResolver } from "../workflow/workflow-resolver.ts";
import { DeployedNames } from "./deployed-names.ts";
import type { HostCode, HostRunner } from "./host-runner.ts";
import { contentHashOf, prepareWorkflowSource } from "./workflow-source.ts";

/** A deployed workflow version with its source (the shape the store keeps). */
export interface DeployedWorkflow {
  readonly namespace: string;
  readonly name: string;
  readonly version: string;
  /** `node` (JS/TS), `python`, or `flow` (YAML; not run by hosts). */
  readonly runtime: string;
  readonly source: string;
  /** Hex SHA-256 of the source. */
  readonly contentHash: string;
  /** The compute adapter its hosts must run on (`kiln deploy -a`); absent: any. */
  readonly adapter?: string;
}

/** A deployed workflow in a list: its name and the runtime of its latest version. */
export interface DeployedWorkflowName {
  readonly name: string;
  readonly runtime: string;
  /** The compute adapter of its latest version; absent: any. */
  readonly adapter?: string;
}

/**
 * Where a worker finds deployed workflow code: the store (`storeWorkflowSource`), the HTTP API
 * (`apiWorkflowSource`) for remote workers, or memory (`InMemoryWorkflowSource`) in tests.
 */
export interface DeployedWorkflowSource {
  /** The workflows deployed in a namespace. */
  listDeployed(p: Readonly<{ namespace: string }>): Promise<readonly DeployedWorkflowName[]>;
  /** One version with its source; the latest when `version` is omitted. */
  getWorkflow(
    p: Readonly<{ namespace: string; name: string; version?: string }>,
  ): Promise<DeployedWorkflow | undefined>;
}

/** The part of the store's deployment API a worker reads (see src/store/control-store.ts). */
export interface DeploymentReader {
  listWorkflows(p: Readonly<{ namespace: string; limit?: number; cursor?: string }>): Promise<{
    readonly workflows: readonly DeployedWorkflowName[];
    readonly nextCursor: string | null;
  }>;
  getWorkflow(
    p: Readonly<{ namespace: string; name: string; version?: string }>,
  ): Promise<DeployedWorkflow | undefined>;
}

const nameOf = (w: DeployedWorkflowName): DeployedWorkflowName => ({
  name: w.name,
  runtime: w.runtime,
  ...(w.adapter === undefined ? {} : { adapter: w.adapter }),
});

/** Deployed workflows from the store (in-process workers, `kiln dev`). */
export function storeWorkflowSource(store: DeploymentReader): DeployedWorkflowSource {
  return {
    listDeployed: async ({ namespace }) => {
      const out: DeployedWorkflowName[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listWorkflows({ namespace, limit: 1000, ...(cursor ? { cursor } : {}) });
        out.push(...page.workflows.map(nameOf));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return out;
    },
    getWorkflow: (p) => store.getWorkflow(p),
  };
}

/**
 * Deployed workflows through the HTTP API (workers without database access):
 * `GET /v1/workflows` (pages of `{ items, nextCursor }`) and `GET /v1/workflows/:name[/versions/:version]`. `get` is an API client's
 * GET (it sends the namespace and the worker token) and rejects with WORKFLOW_NOT_FOUND on 404.
 */
export function apiWorkflowSource(get: <T>(path: string) => Promise<T>): DeployedWorkflowSource {
  return {
    listDeployed: async () => {
      const out: DeployedWorkflowName[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const page = await get<{ items?: DeployedWorkflowName[]; nextCursor?: string | null }>(`/v1/workflows${query}`);
        out.push(...(page.items ?? []).map(nameOf));
        cursor = page.nextCursor ?? null;
      } while (cursor);
      return out;
    },
    getWorkflow: async ({ name, version }) => {
      const path = `/v1/workflows/${encodeURIComponent(name)}${version ? `/versions/${encodeURIComponent(version)}` : ""}`;
      try {
        return await get<DeployedWorkflow>(path);
      } catch (error) {
        if ((error as { code?: string }).code === "WORKFLOW_NOT_FOUND") return undefined;
        throw error;
      }
    },
  };
}

/** Deployed workflows kept in memory, with the store's versioning rules (tests, createTestEnv). */
export class InMemoryWorkflowSource implements DeployedWorkflowSource {
  readonly #versions = new Map<string, DeployedWorkflow[]>();

  /** Deploys a version (default: the next integer); identical source to the latest is a no-op. */
  async deploy(
    p: Readonly<{ namespace?: string; name: string; runtime: string; source: string; version?: string }>,
  ): Promise<{ workflow: DeployedWorkflow; created: boolean }> {
    const namespace = p.namespace ?? "default";
    const key = `${namespace}\u0000${p.name}`;
    const list = this.#versions.get(key) ?? [];
    const contentHash = contentHashOf(p.source);
    const latest = list.at(-1);
    const same = p.version === undefined ? latest : list.find((w) => w.version === p.version);
    if (same && same.contentHash === contentHash && same.runtime === p.runtime)
      return { workflow: same, created: false };
    const version =
      p.version ?? String(1 + Math.max(0, ...list.map((w) => (/^\d+$/.test(w.version) ? Number(w.version) : 0))));
    const workflow: DeployedWorkflow = {
      namespace,
      name: p.name,
      version,
      runtime: p.runtime,
      source: p.source,
      contentHash,
    };
    this.#versions.set(key, [...list.filter((w) => w.version !== version), workflow]);
    return { workflow, created: true };
  }

  async listDeployed(p: Readonly<{ namespace: string }>): Promise<DeployedWorkflowName[]> {
    const prefix = `${p.namespace}\u0000`;
    return [...this.#versions.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .map(([, list]) => ({ name: list.at(-1)?.name ?? "", runtime: list.at(-1)?.runtime ?? "" }));
  }

  async getWorkflow(
    p: Readonly<{ namespace: string; name: string; version?: string }>,
  ): Promise<DeployedWorkflow | undefined> {
    const list = this.#versions.get(`${p.namespace}\u0000${p.name}`) ?? [];
    return p.version === undefined ? list.at(-1) : list.find((w) => w.version === p.version);
  }
}

/** Options of a DeployedWorkflowResolver. */
export interface DeployedWorkflowResolverOptions {
  readonly source: DeployedWorkflowSource;
  readonly runner: HostRunner;
  /** How long the list of deployed names (and the latest versions) is cached. Default 1000 ms. */
  readonly cacheMs?: number;
  /** The worker's shared cache of deployed names; default: one of its own over `source`. */
  readonly names?: DeployedNames;
  /**
   * The runtimes whose versions deployed without an adapter run here. Default: all it runs. A
   * worker with several adapters gives each runtime to its first adapter that runs it, so each
   * such run has one place to go.
   */
  readonly unpinnedRuntimes?: readonly string[];
  /** The worker's other adapters: versions deployed for them are left to their resolvers. */
  readonly otherAdapters?: readonly string[];
  /** The runtimes its hosts run. Default node and python (cloudflare: node only). */
  readonly runtimes?: readonly string[];
}

const HOST_RUNTIMES = new Set(["node", "python"]);

/**
 * The worker-side hook for deployed code (`worker.registry.addResolver(resolver)`): claims runs of
 * deployed JS/TS/Python workflows and runs each activation in a host process, with the code of
 * the version the run is pinned to (the latest for an unpinned run).
 */
export class DeployedWorkflowResolver implements WorkflowResolver {
  readonly #source: DeployedWorkflowSource;
  readonly #runner: HostRunner;
  readonly #cacheMs: number;
  readonly #unpinnedRuntimes: ReadonlySet<string>;
  readonly #otherAdapters: ReadonlySet<string>;
  readonly #runtimes: ReadonlySet<string>;
  readonly #names: DeployedNames;
  readonly #latest = new Map<string, { at: number; workflow: Promise<DeployedWorkflow | undefined> }>();
  /**
   * Pinned versions, cached like the latest ones: a version can be deleted and its number deployed
   * again with other source (`kiln delete workflow`), so "pinned" does not mean "immutable".
   */
  readonly #pinned = new Map<string, { at: number; workflow: Promise<DeployedWorkflow | undefined> }>();
  readonly #prepared = new Map<string, Promise<HostCode>>();

  constructor(options: Readonly<DeployedWorkflowResolverOptions>) {
    this.#source = options.source;
    this.#runner = options.runner;
    this.#cacheMs = options.cacheMs ?? 1000;
    this.#names = options.names ?? new DeployedNames(options.source, this.#cacheMs);
    this.#otherAdapters = new Set(options.otherAdapters ?? []);
    this.#runtimes = new Set(options.runtimes ?? HOST_RUNTIMES);
    this.#unpinnedRuntimes = new Set(options.unpinnedRuntimes ?? this.#runtimes);
  }

  /** Whether a version deployed for `adapter` (undefined: any) runs on this resolver's hosts. */
  #runsHere(w: Readonly<{ runtime: string; adapter?: string | undefined }>): boolean {
    if (!this.#runtimes.has(w.runtime)) return false;
    return w.adapter === undefined ? this.#unpinnedRuntimes.has(w.runtime) : w.adapter === this.#runner.pool.adapter;
  }

  /** Forgets cached names and latest versions (call after a deploy to see it at once). */
  invalidate(): void {
    this.#names.invalidate();
    this.#latest.clear();
  }

  async listNames(p: Readonly<{ namespace: string }>): Promise<readonly string[]> {
    // A workflow deployed for another compute adapter is left to the workers that have it.
    return (await this.#names.list(p)).filter((w) => this.#runsHere(w)).map((w) => w.name);
  }

  async resolve(run: Run): Promise<ActivateWorkflow | undefined> {
    if (run.type !== "workflow") return undefined;
    const deployed = await this.#find(run.namespace, run.name, run.version);
    if (!deployed || !this.#runtimes.has(deployed.runtime)) return undefined;
    if (deployed.adapter === undefined && !this.#unpinnedRuntimes.has(deployed.runtime)) return undefined;
    if (deployed.adapter !== undefined && this.#otherAdapters.has(deployed.adapter)) return undefined;
    if (deployed.adapter !== undefined && deployed.adapter !== this.#runner.pool.adapter) {
      // Claimed by name (its latest version allows this adapter) but pinned to one that does not.
      throw new KilnError(
        "INVALID_CONFIG",
        `Workflow "${run.name}" version ${deployed.version} was deployed for the ${deployed.adapter} compute adapter, but this worker runs hosts with ${this.#runner.pool.adapter}; run it on a worker with that adapter, or deploy it again with --adapter ${this.#runner.pool.adapter}`,
      );
    }
    const code = await this.prepare(deployed);
    return (claimed, deps) => this.#runner.activate(code, claimed, deps);
  }

  /**
   * The host code of a deployed version (TypeScript transpiled once per source and name). The
   * module's identity (`hash`, under which hosts load and cache it) covers the workflow's name as
   * well as its content: identical sources deployed under two names are two modules, each with its
   * own `__filename`, instead of the second sharing the first's.
   */
  prepare(deployed: DeployedWorkflow): Promise<HostCode> {
    const base = deployed.name.replace(/[^\w.-]/g, "_");
    const key = `${deployed.contentHash}\u0000${base}`;
    let prepared = this.#prepared.get(key);
    if (!prepared) {
      const runtime = deployed.runtime === "python" ? "python" : "node";
      prepared = prepareWorkflowSource({ source: deployed.source, runtime, filename: `${base}.ts` }).then((p) => ({
        runtime,
        hash: createHash("sha256").update(`${p.contentHash}\u0000${base}`).digest("hex"),
        code: p.code,
        filename: runtime === "python" ? `${base}.py` : `${base}.mjs`,
      }));
      prepared.catch(() => this.#prepared.delete(key));
      this.#prepared.set(key, prepared);
    }
    return prepared;
  }

  #find(namespace: string, name: string, version: string | null): Promise<DeployedWorkflow | undefined> {
    const key = `${namespace}\u0000${name}\u0000${version ?? ""}`;
    if (version !== null) {
      const pinned = this.#pinned.get(key);
      if (pinned && performance.now() - pinned.at < this.#cacheMs) return pinned.workflow;
      if (this.#pinned.size > 1000) this.#pinned.clear();
      const found = this.#source.getWorkflow({ namespace, name, version });
      found.then((w) => w ?? this.#pinned.delete(key)).catch(() => this.#pinned.delete(key));
      this.#pinned.set(key, { at: performance.now(), workflow: found });
      return found;
    }
    const cached = this.#latest.get(key);
    if (cached && performance.now() - cached.at < this.#cacheMs) return cached.workflow;
    const workflow = this.#source.getWorkflow({ namespace, name });
    workflow.catch(() => this.#latest.delete(key));
    this.#latest.set(key, { at: performance.now(), workflow });
    return workflow;
  }
}
