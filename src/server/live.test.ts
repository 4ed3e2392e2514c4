import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import WebSocket from "ws";
import { forEachStore } from "../../tests/support/test-db.ts";
import type { Store } from "../store/store.ts";
import type { LiveEvent } from "./live-events.ts";
import { silentLogger } from "./logger.ts";
import { type KilnServer, startServer } from "./start-server.ts";

/**
 * Reads SSE events from a response until the stream ends (or `stop` says so). `onEvent` sees each
 * event as it arrives: the readiness signal tests wait on instead of sleeping.
 */
async function readSse(
  res: Response,
  stop: (events: LiveEvent[]) => boolean = () => false,
  onEvent: (event: LiveEvent) => void = () => {},
): Promise<LiveEvent[]> {
  const events: LiveEvent[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      if (data !== "") {
        const event = JSON.parse(data) as LiveEvent;
        events.push(event);
        onEvent(event);
      }
      end = buffer.indexOf("\n\n");
    }
    if (stop(events)) {
      await reader.cancel();
      break;
    }
  }
  return events;
}

/** Drives a run from "outside" as a worker would: claim, a step, progress, logs, completion. */
async function work(store: Store, namespace: string, runId: string) {
  const { runs } = await store.claimRuns({ namespace, queues: ["default"], owner: "w", limit: 1, leaseMs: 60_000 });
  const lease = { runId, leaseToken: runs[0]?.run.leaseToken ?? -1 };
  await store.appendLogs({ entries: [{ runId, attempt: 1, level: "info", message: "hello from the script" }] });
  await store.saveSteps({
    steps: [{ ...lease, name: "fetch", seq: 0, type: "step", status: "completed", output: 42 }],
  });
  await store.updateRuns({ items: [{ ...lease, progress: { percent: 50, message: "half way" } }] });
  await new Promise((r) => setTimeout(r, 100));
  await store.appendLogs({ entries: [{ runId, attempt: 1, level: "info", message: "bye" }] });
  await store.finishRuns({ items: [{ ...lease, outcome: "complete", output: { ok: true } }] });
}

forEachStore("live updates (SSE and WebSocket)", ({ open }) => {
  let db: { store: Store; close(): Promise<void> };
  let server: KilnServer;
  let dataDir: string;
  let token: string;
  before(async () => {
    db = await open();
    dataDir = mkdtempSync(join(tmpdir(), "kiln-live-"));
    server = await startServer({ store: db.store, dataDir, port: 0, logger: silentLogger(), livePollMs: 30 });
    token = (await db.store.createToken({ name: "v", namespace: "default", role: "viewer" })).plaintext;
  });
  after(async () => {
    await server?.close();
    await db?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

  it("follows a run's logs as SSE until it ends, then sends the final run event", async () => {
    const { run } = await db.store.startRun({ namespace: "default", type: "task", name: "follow-me" });
    const res = await get(`/v1/runs/${run.id}/logs?follow=1`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    const reading = readSse(res);
    await work(db.store, "default", run.id);
    const events = await reading;
    assert.deepEqual(
      events.map((e) => (e.type === "log" ? `log:${e.log.message}` : `${e.type}:${e.type === "run" ? e.status : ""}`)),
      ["log:hello from the script", "log:bye", "run:completed"],
    );
  });

  it("streams one run's run, step, log and progress events on /v1/stream (token in the query, as EventSource sends it)", async () => {
    const { run } = await db.store.startRun({ namespace: "default", type: "task", name: "stream-me" });
    const res = await fetch(`${server.url}/v1/stream?runId=${run.id}&access_token=${token}`);
    assert.equal(res.status, 200);
    // The stream opens with the run's state: once that arrived, the subscription is live.
    let subscribed = () => {};
    const first = new Promise<void>((resolve) => {
      subscribed = resolve;
    });
    const reading = readSse(res, undefined, () => subscribed());
    await first;
    await work(db.store, "default", run.id);
    const events = await reading;
    const types = events.map((e) => e.type);
    assert.equal(types[0], "run", "starts with the run's state");
    for (const t of ["step", "log", "progress"]) assert.ok(types.includes(t as LiveEvent["type"]), t);
    const last = events.at(-1);
    assert.equal(last?.type === "run" && last.status, "completed");
    const step = events.find((e) => e.type === "step");
    assert.equal(step?.type === "step" && step.step.output, 42);
  });

  it("streams the namespace's run changes", async () => {
    const res = await get("/v1/stream?types=run");
    let runId = "";
    let subscribed = false;
    const reading = readSse(
      res,
      (events) => events.some((e) => e.runId === runId && e.type === "run" && e.status === "completed"),
      () => {
        subscribed = true;
      },
    );
    // Readiness: the namespace feed has no opening event, so start probe runs (on a queue nobody
    // claims) until one shows up on it.
    for (const deadline = Date.now() + 20_000; !subscribed; ) {
      assert.ok(Date.now() < deadline, "the namespace feed never delivered an event");
      await db.store.startRun({ namespace: "default", type: "task", name: "ns-feed-probe", queue: "probe" });
      await new Promise((r) => setTimeout(r, 50));
    }
    const { run } = await db.store.startRun({ namespace: "default", type: "task", name: "ns-feed" });
    runId = run.id;
    await work(db.store, "default", run.id);
    const events = await reading;
    const mine = events.filter((e) => e.runId === run.id).map((e) => (e.type === "run" ? e.status : e.type));
    assert.equal(mine.at(-1), "completed");
    assert.ok(
      events.every((e) => e.type === "run"),
      "types=run filters",
    );
  });

  it("sends the same events over WebSocket and closes when the run ends", async () => {
    const { run } = await db.store.startRun({ namespace: "default", type: "task", name: "ws-me" });
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/ws?runId=${run.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const events: LiveEvent[] = [];
    ws.on("message", (data) => events.push(JSON.parse(String(data)) as LiveEvent));
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    await work(db.store, "default", run.id);
    assert.equal(await closed, 1000);
    const types = events.map((e) => e.type);
    for (const t of ["run", "step", "log", "progress"]) assert.ok(types.includes(t as LiveEvent["type"]), t);
    const last = events.at(-1);
    assert.equal(last?.type === "run" && last.status, "completed");
  });

  it("refuses a WebSocket without a token", async () => {
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/ws`);
    const status = await new Promise<number>((resolve) => {
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("error", () => {});
    });
    assert.equal(status, 401);
  });
});
