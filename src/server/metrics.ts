import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { isStepSettled } from "../engine/status.ts";
import type { RunCount } from "../store/control-store.ts";
import type { Store } from "../store/store.ts";
import type { SaveStepParams } from "../engine/writes.ts";
import type { EngineClient } from "../engine/engine-client.ts";

/**
 * Prometheus metrics of one server (its own registry, so several servers can live in one process):
 * runs by status, queue depth and worker heartbeat age are read from the store at scrape time, so
 * every server reports the same cluster-wide figures; claim latency, step durations and HTTP
 * timings are measured by the server that served them.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly claimDuration: Histogram<"namespace">;
  readonly claimedRuns: Counter<"namespace">;
  readonly stepDuration: Histogram<"type" | "status">;
  readonly httpRequests: Counter<"method" | "route" | "status">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly retentionDeleted: Counter<"kind">;
  /** Outgoing webhook attempts by outcome: delivered, retrying (failed, tried again later), failed (gave up). */
  readonly webhookDeliveries: Counter<"outcome">;
  /** Incoming webhook requests by outcome: accepted, duplicate, refused (bad signature), rejected. */
  readonly webhookRequests: Counter<"outcome">;
  /** Schedule lag: a fire's due time → its run created (scheduler.ts). */
  readonly scheduleLag: Histogram<"namespace">;
  readonly scheduleFires: Counter<"namespace" | "outcome">;

  constructor(
    store: Pick<Store, "countRuns" | "listWorkers">,
    options: { clock?: () => number; processMetrics?: boolean } = {},
  ) {
    const clock = options.clock ?? Date.now;
    const registers = [this.registry];
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: "kiln_process_" });

    // Both gauges are filled from one store read per scrape.
    let counts: { at: number; rows: Promise<RunCount[]> } | undefined;
    const readCounts = () => {
      const now = Date.now();
      if (!counts || now - counts.at > 500) counts = { at: now, rows: store.countRuns({}).catch(() => []) };
      return counts.rows;
    };
    new Gauge({
      name: "kiln_runs",
      help: "Runs by namespace, queue and status",
      labelNames: ["namespace", "queue", "status"] as const,
      registers,
      async collect() {
        this.reset();
        for (const c of await readCounts())
          this.set({ namespace: c.namespace, queue: c.queue, status: c.status }, c.count);
      },
    });
    new Gauge({
      name: "kiln_queue_depth",
      help: "Queued runs (waiting for a worker, including delayed ones) by namespace and queue",
      labelNames: ["namespace", "queue"] as const,
      registers,
      async collect() {
        this.reset();
        for (const c of await readCounts()) {
          if (c.status === "queued") this.set({ namespace: c.namespace, queue: c.queue }, c.count);
        }
      },
    });
    new Gauge({
      name: "kiln_worker_heartbeat_age_seconds",
      help: "Seconds since each registered worker's last heartbeat",
      labelNames: ["namespace", "worker"] as const,
      registers,
      async collect() {
        this.reset();
        try {
          const now = clock();
          for (const w of await store.listWorkers({})) {
            this.set({ namespace: w.namespace, worker: w.name }, Math.max(0, (now - w.lastHeartbeatAt) / 1000));
          }
        } catch {
          // The store is down: /readyz says so; the scrape still answers.
        }
      },
    });
    this.claimDuration = new Histogram({
      name: "kiln_claim_duration_seconds",
      help: "Time to claim a batch of runs (the store transaction, without long-poll waiting)",
      labelNames: ["namespace"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.claimedRuns = new Counter({
      name: "kiln_claimed_runs_total",
      help: "Runs handed to workers",
      labelNames: ["namespace"] as const,
      registers,
    });
    this.stepDuration = new Histogram({
      name: "kiln_step_duration_seconds",
      help: "Duration of settled steps, from start to record",
      labelNames: ["type", "status"] as const,
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers,
    });
    this.httpRequests = new Counter({
      name: "kiln_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"] as const,
      registers,
    });
    this.httpDuration = new Histogram({
      name: "kiln_http_request_duration_seconds",
      help: "HTTP request duration by route",
      labelNames: ["method", "route"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.retentionDeleted = new Counter({
      name: "kiln_retention_deleted_total",
      help: "Rows deleted by retention (runs, steps, logs, audit records)",
      labelNames: ["kind"] as const,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: "kiln_webhook_deliveries_total",
      help: "Outgoing webhook attempts by outcome (delivered, retrying, failed)",
      labelNames: ["outcome"] as const,
      registers,
    });
    this.webhookRequests = new Counter({
      name: "kiln_webhook_requests_total",
      help: "Incoming webhook requests by outcome (accepted, duplicate, refused, rejected)",
      labelNames: ["outcome"] as const,
      registers,
    });
    this.scheduleLag = new Histogram({
      name: "kiln_schedule_lag_seconds",
      help: "Time from a schedule's due time to its run being started (jitter excluded)",
      labelNames: ["namespace"] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300],
      registers,
    });
    this.scheduleFires = new Counter({
      name: "kiln_schedule_fires_total",
      help: "Handled schedule due times by outcome (started, skipped, buffered, missed)",
      labelNames: ["namespace", "outcome"] as const,
      registers,
    });
  }

  /** Observes the durations of the settled steps among saved ones. */
  observeSteps(steps: readonly SaveStepParams[], now: number): void {
    for (const s of steps) {
      if (s.startedAt === undefined || !isStepSettled(s.status)) continue;
      if (s.type === "sleep" || s.type === "event" || s.type === "child") continue;
      this.stepDuration.observe({ type: s.type, status: s.status }, Math.max(0, now - s.startedAt) / 1000);
    }
  }
}

/**
 * Wraps an in-process engine client (`kiln dev`) so that its claims and steps feed the metrics
 * the HTTP worker protocol feeds for remote workers.
 */
export function instrumentEngineClient(client: EngineClient, metrics: ServerMetrics, clock = Date.now): EngineClient {
  return {
    claimRuns: async (p) => {
      const stop = metrics.claimDuration.startTimer({ namespace: p.namespace });
      const result = await client.claimRuns(p);
      stop();
      metrics.claimedRuns.inc({ namespace: p.namespace }, result.runs.length);
      return result;
    },
    saveSteps: async (p) => {
      const results = await client.saveSteps(p);
      metrics.observeSteps(p.steps, clock());
      return results;
    },
    extendLeases: (p) => client.extendLeases(p),
    startChildRun: (p) => client.startChildRun(p),
    awaitEvent: (p) => client.awaitEvent(p),
    finishRuns: (p) => client.finishRuns(p),
    updateRuns: (p) => client.updateRuns(p),
    appendLogs: (p) => client.appendLogs(p),
    subscribe: (l) => client.subscribe(l),
  };
}
