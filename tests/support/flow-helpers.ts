import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before } from "node:test";
import { forEachStore, type TestStore } from "./test-db.ts";
import type { Run } from "../../src/engine/run.ts";
import type { Step } from "../../src/engine/step.ts";
import type { LogEntry, Store } from "../../src/store/store.ts";
import { Worker } from "../../src/worker/worker.ts";
import type { FlowDeps } from "../../src/flow/run/flow-deps.ts";
import { compileFlowSource } from "../../src/flow/run/flow-runtime.ts";
import type { NodeContext, NodeParams } from "../../src/flow/nodes/node-api.ts";
import { type FlowPlugin, type PluginNodeType, pluginNodeType } from "../../src/flow/nodes/plugins.ts";

/**
 * Test support for flows: a real Worker on a real store (SQLite in memory and PostgreSQL) with a
 * controllable clock, flows compiled from YAML, a local HTTP server, and small plugin node types
 * that count and gate their executions.
 */

/** A worker running flows on one namespace of a store. */
export interface FlowHarness {
  readonly store: Store;
  readonly worker: Worker;
  readonly clock: { now: number };
  readonly namespace: string;
  start(name: string, input?: unknown): Promise<string>;
  run(id: string): Promise<Run>;
  steps(id: string): Promise<Step[]>;
  logs(id: string): Promise<LogEntry[]>;
  /** Everything the store holds about a run, as one JSON text (to look for leaked secrets). */
  stored(id: string): Promise<string>;
  /** Another worker with the same flows (another process, after a crash). */
  sibling(): Worker;
}

/** Options of a harness. */
export interface HarnessOptions {
  readonly concurrency?: number;
  /** Extra workflow functions by name (child workflows written as code). */
  readonly code?: Readonly<Record<string, (input: never, ctx: never) => unknown>>;
  /** Task kinds as JS handlers. */
  readonly tasks?: Readonly<Record<string, (input: never) => unknown>>;
}

/** What a suite body gets: a harness factory bound to the suite's store and clock. */
export interface StoreSuite {
  readonly dialect: "sqlite" | "postgres";
  harness(namespace: string, flows: Readonly<Record<string, string>>, options?: HarnessOptions): FlowHarness;
}

/** Declares `body` once per store (SQLite, then PostgreSQL unless it is unavailable). */
export function describeOnStores(title: string, deps: () => FlowDeps, body: (suite: StoreSuite) => void): void {
  forEachStore(title, ({ dialect, open }) => {
    const clock = { now: 1_700_000_000_000 };
    let db: TestStore | undefined;
    before(async () => {
      db = await open({ clock: () => clock.now });
    });
    after(async () => {
      await db?.close();
    });
    const harness = (
      namespace: string,
      flows: Readonly<Record<string, string>>,
      options: HarnessOptions = {},
    ): FlowHarness => {
      const store = () => (db as TestStore).store;
      const makeWorker = () => {
        const worker = new Worker({
          client: store(),
          namespace,
          clock: () => clock.now,
          leaseMs: 10_000,
          concurrency: options.concurrency ?? 16,
        });
        for (const [name, text] of Object.entries(flows)) {
          worker.registry.addWorkflow({ name, version: null, fn: compileFlowSource(text, name, deps()) });
        }
        for (const [name, fn] of Object.entries(options.code ?? {})) {
          worker.registry.addWorkflow({ name, version: null, fn: fn as never });
        }
        for (const [kind, handler] of Object.entries(options.tasks ?? {})) {
          worker.registry.addTask({
            kind,
            handler: async (input) => handler(input as never),
            retryPolicy: null,
            settings: {},
          });
        }
        return worker;
      };
      const worker = makeWorker();
      const getRun = async (id: string) => {
        const run = await store().getRun({ namespace, id });
        if (run === undefined) throw new Error(`No run ${id}`);
        return run;
      };
      return {
        get store() {
          return store();
        },
        worker,
        clock,
        namespace,
        start: async (name, input) => (await store().startRun({ namespace, type: "workflow", name, input })).run.id,
        run: getRun,
        steps: (id) => store().listSteps({ runId: id }),
        logs: (id) => store().listLogs({ runId: id }),
        stored: async (id) => {
          const [run, steps, logs] = await Promise.all([
            getRun(id),
            store().listSteps({ runId: id }),
            store().listLogs({ runId: id }),
          ]);
          return JSON.stringify({ run, steps, logs });
        },
        sibling: makeWorker,
      };
    };
    body({ dialect, harness });
  });
}

/** A local HTTP server on 127.0.0.1 with a port of its own. */
export interface TestServer {
  readonly url: string;
  readonly requests: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[];
  close(): Promise<void>;
}

/** Starts a local HTTP server; `handler` answers each request (the body is read first). */
export async function startHttpServer(
  handler: (request: IncomingMessage, body: string, response: ServerResponse) => void | Promise<void>,
): Promise<TestServer> {
  const requests: TestServer["requests"] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      requests.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      Promise.resolve(handler(request, body, response)).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends JSON. */
export function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

/** Counters, gates and concurrency gauges shared by the test plugin node types. */
export class TestProbe {
  readonly counts = new Map<string, number>();
  readonly gates = new Map<string, Promise<void>>();
  readonly entered = new Map<string, () => void>();
  active = 0;
  maxActive = 0;

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Makes `test.gate` nodes with this key wait until the returned function is called. */
  gate(key: string): { open: () => void; reached: Promise<void> } {
    let open!: () => void;
    this.gates.set(
      key,
      new Promise<void>((resolve) => {
        open = resolve;
      }),
    );
    const reached = new Promise<void>((resolve) => this.entered.set(key, resolve));
    return { open, reached };
  }

  /** Plugin node types: `test.count` (counts visits by key), `test.gate` (waits for a gate), `test.busy` (holds a slot for `ms`). */
  nodeTypes(): PluginNodeType[] {
    const plugins: FlowPlugin[] = [
      {
        type: "test.count",
        schema: { type: "object", required: ["key"], properties: { key: { type: "string" }, value: {} } },
        run: (params: NodeParams) => {
          const key = params.key as string;
          this.counts.set(key, this.count(key) + 1);
          return { key, count: this.count(key), value: params.value ?? null };
        },
      },
      {
        type: "test.gate",
        run: async (params: NodeParams, ctx: NodeContext) => {
          const key = String(params.key);
          this.counts.set(key, this.count(key) + 1);
          this.entered.get(key)?.();
          const gate = this.gates.get(key);
          if (gate !== undefined) await gate;
          return { key, input: ctx.input };
        },
      },
      {
        type: "test.busy",
        run: async (params: NodeParams, ctx: NodeContext) => {
          this.active++;
          this.maxActive = Math.max(this.maxActive, this.active);
          await new Promise((resolve) => setTimeout(resolve, Number(params.ms ?? 10)));
          this.active--;
          return ctx.input;
        },
      },
    ];
    return plugins.map((plugin) => pluginNodeType(plugin));
  }
}
