/**
 * The code that runs inside a Cloudflare Worker (bundled with one workflow by bundle-worker.ts).
 * It speaks the replay protocol of the cloudflare adapter over HTTP: each request carries the
 * run and its recorded history; the handler replays the workflow with the same WorkflowActivation
 * as every other host and answers with the writes it made (steps, logs, state) and, when the
 * activation ended, its outcome. A write that needs the store's answer (a step result, a child
 * run, an event wait) ends the request: Kiln records it, adds it to the history and asks again,
 * so no step that Kiln has recorded runs twice. Nothing here touches Node-only APIs.
 */
import { serializeError } from "../../errors.ts";
import type { LogLevel } from "../../engine/log-level.ts";
import type { WriteResult } from "../../engine/writes.ts";
import type { EngineClient } from "../../engine/engine-client.ts";
import { type ActivationOutcome, WorkflowActivation } from "../../workflow/workflow-activation.ts";
import type { WorkflowFunction } from "../../workflow/workflow-context.ts";
import { isWorkflowDefinition, takeLastDefinition } from "../../workflow/define-workflow.ts";
import type { WorkerRequest, WorkerResponse, WorkerWrite } from "./replay-wire.ts";
import { jsonSafe } from "../json-safe-outcome.ts";

/** The environment of the Worker: the shared secret Kiln sends as a bearer token. */
interface WorkerEnv {
  readonly KILN_TOKEN?: string;
}

const OK: WriteResult = { ok: true, cancelRequested: false };

/** The workflow function a bundled module defines (default export, `workflow`, or defineWorkflow). */
export function workflowOf(mod: Record<string, unknown>): WorkflowFunction | undefined {
  const isWorkflow = (v: unknown) => typeof v === "function" || isWorkflowDefinition(v);
  const found =
    [mod.default, mod.workflow].find(isWorkflow) ??
    Object.values(mod).find(isWorkflowDefinition) ??
    takeLastDefinition();
  if (found === undefined) return undefined;
  return (isWorkflowDefinition(found) ? found.fn : found) as WorkflowFunction;
}

/** The Worker's module export: `export default createWorkerHandler(workflowModule)`. */
export function createWorkerHandler(mod: Record<string, unknown>): {
  fetch(request: Request, env: WorkerEnv): Promise<Response>;
} {
  const fn = workflowOf(mod);
  return {
    async fetch(request, env) {
      if (!env.KILN_TOKEN || request.headers.get("authorization") !== `Bearer ${env.KILN_TOKEN}`) {
        return Response.json(
          { error: { code: "UNAUTHENTICATED", message: "Bad or missing Kiln token" } },
          { status: 401 },
        );
      }
      if (request.method !== "POST") return new Response("POST an activation", { status: 405 });
      if (!fn) {
        const error = {
          code: "WORKFLOW_LOAD_FAILED",
          message:
            "The Worker's module defines no workflow: export a default function, a `workflow` function, or defineWorkflow(…)",
          retryable: false,
        };
        return Response.json({ writes: [], outcome: { outcome: "fail", error, compensable: false }, reached: 0 });
      }
      return Response.json(await activate(fn, (await request.json()) as WorkerRequest));
    },
  };
}

/** One request: replays the run until it ends or makes a write that Kiln must record first. */
async function activate(fn: WorkflowFunction, request: WorkerRequest): Promise<WorkerResponse> {
  const { claimed } = request;
  const { run } = claimed;
  const receivedAt = Date.now();
  const clock = () => (request.manualClock ? request.now : request.now + (Date.now() - receivedAt));
  const writes: WorkerWrite[] = [];
  let flush!: () => void;
  const flushed = new Promise<null>((resolve) => {
    flush = () => resolve(null);
  });
  let suspended = 0;
  let activation: WorkflowActivation | undefined;
  // The activation waits for the store's answer to this write, which only the next request can
  // carry. The round ends once every primitive in flight waits for such an answer: steps running
  // in parallel finish (and are recorded) first instead of being cut and run again.
  const suspend = <T>(): Promise<T> => {
    if (suspended++ === 0) {
      const check = () => {
        if ((activation?.inFlight ?? 0) <= suspended) flush();
        else setTimeout(check, 1);
      };
      setTimeout(check, 0);
    }
    return new Promise<T>(() => {});
  };
  const log = (level: LogLevel, message: string, stepName: string | null) =>
    writes.push({
      method: "appendLogs",
      params: {
        entries: [
          { runId: run.id, attempt: run.attempt, leaseToken: run.leaseToken, stepName, level, message, ts: clock() },
        ],
      },
    });
  const client: Pick<EngineClient, "saveSteps" | "startChildRun" | "awaitEvent" | "updateRuns" | "appendLogs"> = {
    saveSteps: async (p) => {
      writes.push({ method: "saveSteps", params: p });
      // A sleep marked completed once its time has passed is fire-and-forget in the activation
      // (nothing waits for it), so it must not hold the round open either.
      if (p.steps.every((s) => s.type === "sleep" && s.status === "completed")) return p.steps.map(() => OK);
      return await suspend();
    },
    startChildRun: (p) => {
      writes.push({ method: "startChildRun", params: p });
      return suspend();
    },
    awaitEvent: (p) => {
      writes.push({ method: "awaitEvent", params: p });
      return suspend();
    },
    updateRuns: async (p) => {
      writes.push({ method: "updateRuns", params: p });
      return p.items.map(() => OK);
    },
    appendLogs: async (p) => {
      writes.push({ method: "appendLogs", params: p });
    },
  };
  const controller = new AbortController();
  const restoreConsole = captureConsole((level, text) => log(level, text, null));
  try {
    activation = new WorkflowActivation(fn, claimed, {
      client: client as EngineClient,
      batcher: { saveStep: (item) => client.saveSteps({ steps: [item] }).then((r) => r[0] ?? OK) },
      clock,
      signal: controller.signal,
      log,
      progress: (progress) =>
        writes.push({
          method: "updateRuns",
          params: { items: [{ runId: run.id, leaseToken: run.leaseToken, progress }] },
        }),
    });
    let outcome: ActivationOutcome | null;
    try {
      outcome = await Promise.race([activation.run(), flushed]);
    } catch (error) {
      outcome = { outcome: "fail", error: serializeError(error, "INTERNAL"), compensable: false };
    }
    return { writes, outcome: outcome === null ? null : jsonSafe(outcome), reached: activation.reached };
  } finally {
    restoreConsole();
    controller.abort();
  }
}

/** Routes console output of the workflow to the run's log while a request runs. */
function captureConsole(log: (level: LogLevel, text: string) => void): () => void {
  const levels: readonly [keyof Console, LogLevel][] = [
    ["log", "info"],
    ["info", "info"],
    ["debug", "debug"],
    ["warn", "warning"],
    ["error", "error"],
  ];
  const saved = levels.map(([method]) => [method, console[method]] as const);
  for (const [method, level] of levels) {
    (console as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
      log(level, args.map((a) => (typeof a === "string" ? a : safeJson(a))).join(" "));
  }
  return () => {
    for (const [method, original] of saved) (console as unknown as Record<string, unknown>)[method] = original;
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
