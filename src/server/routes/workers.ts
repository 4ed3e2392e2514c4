import { z } from "zod";
import type { WorkerRegistration } from "../../store/control-store.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { pageOf, WorkerKindSchema } from "../api-schemas.ts";

/** A worker is alive while its last heartbeat is younger than this. */
export const WORKER_ALIVE_MS = 60_000;

const WorkerSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  version: z.string(),
  queues: z.array(z.string()),
  kinds: z.array(WorkerKindSchema),
  workflows: z.array(z.string()),
  concurrency: z.number().nullable().describe("How many runs it executes at once (null: not reported)"),
  startedAt: z.number(),
  lastHeartbeatAt: z.number(),
  heartbeatAgeMs: z.number(),
  alive: z.boolean().describe(`Heartbeat within the last ${WORKER_ALIVE_MS / 1000} s`),
});

const TaskKindSchema = z.object({
  kind: z.string(),
  settings: z.record(z.string(), z.unknown()).describe("As reported by the most recently seen worker"),
  queues: z.array(z.string()),
  workers: z.array(z.object({ name: z.string(), heartbeatAgeMs: z.number(), alive: z.boolean() })),
});

function withAge(w: WorkerRegistration, now: number) {
  const heartbeatAgeMs = Math.max(0, now - w.lastHeartbeatAt);
  return { ...w, heartbeatAgeMs, alive: heartbeatAgeMs < WORKER_ALIVE_MS };
}

/** Workers (with heartbeat age) and the task kinds they serve. */
export const workerRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/v1/workers",
    operationId: "listWorkers",
    summary: "List registered workers with their heartbeat age",
    tag: "workers",
    access: ACCESS.read,
    responses: { 200: { description: "The workers", schema: pageOf(WorkerSchema) } },
    async handle({ auth, c, deps }) {
      const now = deps.clock();
      const workers = await deps.store.listWorkers({ namespace: auth.namespace });
      return c.json({ items: workers.map((w) => withAge(w, now)), nextCursor: null });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/tasks",
    operationId: "listTaskKinds",
    summary: "List task kinds from worker registrations, with their settings and the workers serving them",
    tag: "workers",
    access: ACCESS.read,
    responses: { 200: { description: "The task kinds by name", schema: pageOf(TaskKindSchema) } },
    async handle({ auth, c, deps }) {
      const now = deps.clock();
      const workers = (await deps.store.listWorkers({ namespace: auth.namespace })).sort(
        (a, b) => b.lastHeartbeatAt - a.lastHeartbeatAt,
      );
      const kinds = new Map<string, z.infer<typeof TaskKindSchema>>();
      for (const w of workers) {
        const aged = withAge(w, now);
        for (const k of w.kinds) {
          let entry = kinds.get(k.kind);
          if (!entry)
            kinds.set(k.kind, (entry = { kind: k.kind, settings: { ...k.settings }, queues: [], workers: [] }));
          for (const q of w.queues) if (!entry.queues.includes(q)) entry.queues.push(q);
          entry.workers.push({ name: w.name, heartbeatAgeMs: aged.heartbeatAgeMs, alive: aged.alive });
        }
      }
      const items = [...kinds.values()].sort((a, b) => (a.kind < b.kind ? -1 : 1));
      return c.json({ items, nextCursor: null });
    },
  }),
];
