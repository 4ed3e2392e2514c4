import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { deserializeError, KilnError, type SerializedError, serializeError } from "../../errors.ts";
import type { Step } from "../../engine/step.ts";
import type { ClaimedRun } from "../../engine/claim.ts";
import type { SaveStepParams, WriteResult } from "../../engine/writes.ts";
import type { ActivationOutcome } from "../../workflow/workflow-activation.ts";
import type { ComputeAdapter, SpawnedHost } from "../compute-adapter.ts";
import {
  type ActivateMessage,
  createLineDecoder,
  encodeMessage,
  type HostCallMethod,
  type HostMessage,
  type LoadMessage,
  PROTOCOL_VERSION,
  type WorkerMessage,
} from "../protocol.ts";
import { bundleWorkflowWorker } from "./bundle-worker.ts";
import type { CloudflareApi } from "./cloudflare-api.ts";
import type { WorkerRequest, WorkerResponse } from "./replay-wire.ts";

/** Options of the cloudflare adapter. */
export interface CloudflareAdapterOptions {
  /** Where Workers are uploaded: `cloudflareHttpApi(…)` or `miniflareApi()`. */
  readonly api: CloudflareApi;
  /** The fetch that POSTs activations (default: the global one). */
  readonly fetch?: typeof fetch;
}

/** Codes of a write refused for its content: the run fails (as WorkflowActivation decides). */
const REFUSED_CONTENT: ReadonlySet<string> = new Set(["PAYLOAD_TOO_LARGE", "INVALID_INPUT"]);

/** A ComputeAdapter with a way to release what it holds (local workerd processes). */
export interface ClosableComputeAdapter extends ComputeAdapter {
  close(): Promise<void>;
}

/**
 * Runs deployed JavaScript workflows on Cloudflare Workers. Each code version is bundled into a
 * Worker (`kiln-<hash>`) and uploaded once; a "host" is an in-process bridge that speaks the host
 * protocol to the worker and drives the Worker over HTTP with the replay model (see
 * replay-wire.ts): every write the Worker returns is performed through the worker's fenced call
 * path, exactly as a host process's calls are, so steps are recorded by Kiln before the next
 * round, and a crash resumes from the recorded history. Python workflows cannot run here.
 */
export function cloudflareAdapter(options: Readonly<CloudflareAdapterOptions>): ClosableComputeAdapter {
  // Kiln's secret for its Workers: only this worker process can activate them.
  const token = randomBytes(24).toString("base64url");
  const uploads = new Map<string, Promise<string>>();
  const upload = (message: LoadMessage): Promise<string> => {
    let url = uploads.get(message.hash);
    if (!url) {
      url = bundleWorkflowWorker({ code: message.source, filename: message.filename }).then(
        async (module) => (await options.api.uploadScript({ name: scriptName(message.hash), module, token })).url,
      );
      url.catch(() => uploads.delete(message.hash));
      uploads.set(message.hash, url);
    }
    return url;
  };
  const post = async (url: string, body: WorkerRequest): Promise<WorkerResponse> => {
    const response = await (options.fetch ?? fetch)(url, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      throw new KilnError(
        "HOST_CRASHED",
        `The Cloudflare Worker answered HTTP ${response.status}: ${(await response.text()).slice(0, 500)}`,
      );
    }
    return (await response.json()) as WorkerResponse;
  };
  return {
    name: "cloudflare",
    available: async () => true,
    spawnHost: (p) => new Bridge(p.runtime === "node", upload, post).host,
    close: () => options.api.close(),
  };
}

/** The Worker name of a code version (Cloudflare allows 63 lowercase characters). */
export function scriptName(hash: string): string {
  return `kiln-${hash.slice(0, 32).toLowerCase()}`;
}

/** One bridge "host": the protocol on in-memory streams, activations as HTTP rounds. */
class Bridge {
  readonly host: SpawnedHost;
  readonly #out = new PassThrough();
  readonly #calls = new Map<number, (m: WorkerMessage & { type: "reply" }) => void>();
  readonly #urls = new Map<string, string>();
  readonly #upload: (m: LoadMessage) => Promise<string>;
  readonly #post: (url: string, body: WorkerRequest) => Promise<WorkerResponse>;
  #nextCall = 1;
  #exit!: (r: { code: number | null; signal: string | null }) => void;
  #dead = false;

  constructor(
    javascript: boolean,
    upload: (m: LoadMessage) => Promise<string>,
    post: (url: string, body: WorkerRequest) => Promise<WorkerResponse>,
  ) {
    this.#upload = upload;
    this.#post = post;
    const stdin = new PassThrough();
    const stderr = new PassThrough();
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      this.#exit = (r) => {
        if (this.#dead) return;
        this.#dead = true;
        resolve(r);
        this.#out.end();
        stderr.end();
      };
    });
    this.host = {
      stdin,
      stdout: this.#out,
      stderr,
      pid: undefined,
      exited,
      cpuTimeMs: () => null,
      kill: () => this.#exit({ code: null, signal: "SIGKILL" }),
    };
    stdin.setEncoding("utf8");
    stdin.on(
      "data",
      createLineDecoder<WorkerMessage>(
        (m) => this.#handle(m),
        () => {},
      ),
    );
    setImmediate(() => {
      if (!javascript) {
        stderr.write("The cloudflare compute adapter runs JavaScript/TypeScript workflows only\n");
        this.#exit({ code: 1, signal: null });
        return;
      }
      this.#send({ type: "ready", runtime: "node", pid: process.pid, protocol: PROTOCOL_VERSION });
    });
  }

  #send(message: HostMessage): void {
    if (!this.#dead) this.#out.write(encodeMessage(message));
  }

  #handle(message: WorkerMessage): void {
    switch (message.type) {
      case "load":
        this.#upload(message).then(
          (url) => {
            this.#urls.set(message.hash, url);
            this.#send({ type: "loaded", id: message.id, ok: true });
          },
          (error: unknown) =>
            this.#send({
              type: "loaded",
              id: message.id,
              ok: false,
              error: { ...serializeError(error, "WORKFLOW_LOAD_FAILED"), retryable: false },
            }),
        );
        return;
      case "activate":
        void this.#activate(message);
        return;
      case "reply":
        this.#calls.get(message.id)?.(message);
        this.#calls.delete(message.id);
        return;
      case "ping":
        // The work happens on Cloudflare: this process spends no CPU for it.
        this.#send({ type: "pong", id: message.id, cpuMs: 0 });
        return;
      case "shutdown":
        this.#exit({ code: 0, signal: null });
        return;
      case "abort":
        // The worker has decided the outcome; the round in flight ends on its own.
        return;
    }
  }

  /** Sends a `call` to the worker (which performs it fenced by the lease) and waits for the reply. */
  #call(method: HostCallMethod, params: unknown, activation: number): Promise<unknown> {
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, (reply) => {
        if (reply.ok) resolve(reply.value);
        else reject(deserializeError(reply.error));
      });
      this.#send({ type: "call", id, activation, method, params });
    });
  }

  async #activate(message: ActivateMessage): Promise<void> {
    try {
      const { outcome, reached } = await this.#rounds(message);
      this.#send({ type: "done", id: message.id, outcome, reached });
    } catch (error) {
      // The Worker could not be reached or failed: this "host" dies like a crashed process, so
      // the run is retried on a new one and fails HOST_CRASHED after the runner's limit.
      const detail = serializeError(error, "HOST_CRASHED");
      this.host.stderr.emit("data", `${detail.message}\n`);
      this.#exit({ code: 1, signal: null });
    }
  }

  /** HTTP rounds until the Worker reports an outcome or a write stops the activation. */
  async #rounds(message: ActivateMessage): Promise<{ outcome: ActivationOutcome; reached: number }> {
    const url = this.#urls.get(message.hash);
    if (!url) {
      const error = { code: "WORKFLOW_LOAD_FAILED", message: `Code ${message.hash} is not loaded in this host` };
      return { outcome: { outcome: "abandoned", error }, reached: 0 };
    }
    const started = Date.now();
    let claimed: ClaimedRun = message.claimed;
    for (;;) {
      const now = message.manualClock ? message.now : message.now + (Date.now() - started);
      const response = await this.#post(url, {
        claimed,
        now,
        ...(message.manualClock ? { manualClock: true } : {}),
      });
      const recorded: Step[] = [];
      for (const write of response.writes) {
        const value = await this.#call(write.method, write.params, message.id);
        if (write.method === "startChildRun" || write.method === "awaitEvent") {
          const result = value as WriteResult;
          if (!result.ok) return { outcome: refusal(result.error), reached: response.reached };
          // The store recorded the step as it decided (child started, event consumed or awaited):
          // the next activation reads it from there.
          return { outcome: { outcome: "release" }, reached: response.reached };
        }
        if (write.method !== "saveSteps") continue;
        const items = (write.params as { steps: readonly SaveStepParams[] }).steps;
        const results = value as readonly WriteResult[];
        for (let i = 0; i < items.length; i++) {
          const result = results[i];
          if (result && !result.ok) return { outcome: refusal(result.error), reached: response.reached };
          recorded.push(stepOf(items[i] as SaveStepParams, now));
        }
      }
      if (response.outcome) return { outcome: response.outcome, reached: response.reached };
      if (recorded.length === 0) {
        throw new KilnError("HOST_CRASHED", "The Cloudflare Worker stopped without a write or an outcome");
      }
      const byName = new Map(claimed.steps.map((s) => [s.name, s]));
      for (const step of recorded) byName.set(step.name, step);
      claimed = { ...claimed, steps: [...byName.values()] };
    }
  }
}

/** A refused write: lease lost (abandon), or content the store never takes (the run fails). */
function refusal(error: SerializedError): ActivationOutcome {
  if (REFUSED_CONTENT.has(error.code)) return { outcome: "fail", error, compensable: false };
  return { outcome: "abandoned", error };
}

/** The history entry of a step write the store accepted. */
function stepOf(p: SaveStepParams, now: number): Step {
  const settled = p.status === "completed" || p.status === "failed";
  return {
    runId: p.runId,
    name: p.name,
    seq: p.seq,
    type: p.type,
    status: p.status,
    output: p.output ?? null,
    error: p.error ?? null,
    attempt: p.attempt ?? 1,
    wakeAt: p.wakeAt ?? null,
    childRunId: null,
    eventName: null,
    eventKey: null,
    compensable: p.compensable ?? false,
    startedAt: p.startedAt ?? now,
    finishedAt: settled ? now : null,
  };
}
