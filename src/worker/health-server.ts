import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/** Where a worker process is in its life, as /readyz reports it. */
export type WorkerPhase = "starting" | "ready" | "draining";

/** What the health server reads from the worker. */
export interface WorkerHealthSource {
  readonly name: string;
  /** Runs executing now. */
  readonly activeCount: number;
  /** Runs executed to an outcome since start. */
  readonly processed: number;
}

/** A running health server. */
export interface WorkerHealthServer {
  readonly port: number;
  /** Moves the phase (ready after start, draining on SIGTERM). */
  setPhase(phase: WorkerPhase): void;
  /** Counts a config reload (`ok` false: the change was refused and the old config kept). */
  countReload(ok: boolean): void;
  close(): Promise<void>;
}

/**
 * Serves a worker's probes for Kubernetes: `/healthz` (200 while the process serves requests:
 * liveness), `/readyz` (200 only while the worker claims runs; 503 while starting or draining, so
 * no traffic or rollout waits on it) and `/metrics` (Prometheus text: runs in flight, runs done,
 * phase, config reloads, and the process's default metrics).
 */
export async function startWorkerHealthServer(
  p: Readonly<{ port: number; host?: string; worker: WorkerHealthSource }>,
): Promise<WorkerHealthServer> {
  let phase: WorkerPhase = "starting";
  const { registry, reloads } = workerMetrics(p.worker, () => phase);

  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://worker").pathname;
    const send = (status: number, body: string, type = "application/json") => {
      response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
      response.end(body);
    };
    if (request.method !== "GET" && request.method !== "HEAD") return send(405, '{"error":"method not allowed"}');
    if (path === "/healthz") return send(200, JSON.stringify({ status: "ok", worker: p.worker.name }));
    if (path === "/readyz") {
      return send(phase === "ready" ? 200 : 503, JSON.stringify({ status: phase, worker: p.worker.name }));
    }
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => send(200, text, registry.contentType),
        (error: Error) => send(500, JSON.stringify({ error: error.message })),
      );
      return;
    }
    send(404, '{"error":"not found: try /healthz, /readyz or /metrics"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(p.port, p.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    setPhase: (next) => {
      phase = next;
    },
    countReload: (ok) => reloads.inc({ outcome: ok ? "ok" : "refused" }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The worker's Prometheus registry (the process's default metrics and the worker's own). */
export function workerMetrics(
  worker: Pick<WorkerHealthSource, "activeCount" | "processed">,
  phase: () => WorkerPhase,
): { registry: Registry; reloads: Counter<"outcome"> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "kiln_worker_active_runs",
    help: "Runs this worker is executing now",
    registers: [registry],
    collect() {
      this.set(worker.activeCount);
    },
  });
  new Gauge({
    name: "kiln_worker_processed_runs",
    help: "Runs this worker executed to an outcome since it started",
    registers: [registry],
    collect() {
      this.set(worker.processed);
    },
  });
  new Gauge({
    name: "kiln_worker_ready",
    help: "1 while the worker claims runs, 0 while it starts or drains",
    registers: [registry],
    collect() {
      this.set(phase() === "ready" ? 1 : 0);
    },
  });
  const reloads = new Counter({
    name: "kiln_worker_config_reloads_total",
    help: "Config reloads, by outcome",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  return { registry, reloads };
}
