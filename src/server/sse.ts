import { streamSSE } from "hono/streaming";
import type { AppContext } from "./api-route.ts";
import type { LiveEvent } from "./live-events.ts";
import type { LiveSubscription } from "./live-hub.ts";

/** Whether a request asks for an event stream (`Accept: text/event-stream`). */
export function wantsEventStream(c: AppContext): boolean {
  return (c.req.header("accept") ?? "").includes("text/event-stream");
}

const PING_MS = 15_000;

/**
 * One timer pings every open stream (an idle stream holds no timer of its own): started with the
 * first stream, stopped with the last.
 */
const pings = new Set<() => void>();
let pingTimer: NodeJS.Timeout | undefined;

function onPing(ping: () => void): () => void {
  pings.add(ping);
  if (pingTimer === undefined) {
    pingTimer = setInterval(() => {
      for (const p of [...pings]) p();
    }, PING_MS);
    pingTimer.unref();
  }
  return () => {
    pings.delete(ping);
    if (pings.size === 0 && pingTimer !== undefined) {
      clearInterval(pingTimer);
      pingTimer = undefined;
    }
  };
}

/** How many ping timers run (one for all streams, or none): for tests. */
export function pingTimers(): number {
  return pingTimer === undefined ? 0 : 1;
}

/**
 * Streams live events as Server-Sent Events: `event: <type>`, `id: <n>`, `data: <json>`, with a
 * comment every 15 s so proxies keep the connection. Ends when the feed ends or the client leaves;
 * `release` is called once the stream is over (the stream caps count it closed).
 */
export function sendEventStream(
  c: AppContext,
  subscribe: (emit: (event: LiveEvent) => void) => LiveSubscription,
  release: () => void = () => {},
): Response {
  c.header("Cache-Control", "no-cache");
  c.header("X-Accel-Buffering", "no");
  return streamSSE(c, async (stream) => {
    let id = 0;
    let writing = Promise.resolve();
    let stopPing = () => {};
    try {
      const sub = subscribe((event) => {
        const data = JSON.stringify(event);
        writing = writing.then(() => stream.writeSSE({ event: event.type, id: String(++id), data }));
      });
      stopPing = onPing(() => {
        writing = writing.then(() => stream.write(": ping\n\n")).then(() => undefined);
      });
      stream.onAbort(() => sub.stop());
      try {
        await sub.done;
        await writing;
      } finally {
        sub.stop();
      }
    } finally {
      stopPing();
      release();
    }
  });
}
