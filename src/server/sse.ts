import { streamSSE } from "hono/streaming";
import type { AppContext } from "./api-route.ts";
import type { LiveEvent } from "./live-events.ts";
import type { LiveSubscription } from "./live-hub.ts";

/** Whether a request asks for an event stream (`Accept: text/event-stream`). */
export function wantsEventStream(c: AppContext): boolean {
  return (c.req.header("accept") ?? "").includes("text/event-stream");
}

/**
 * Streams live events as Server-Sent Events: `event: <type>`, `id: <n>`, `data: <json>`, with a
 * comment every 15 s so proxies keep the connection. Ends when the feed ends or the client leaves.
 */
export function sendEventStream(
  c: AppContext,
  subscribe: (emit: (event: LiveEvent) => void) => LiveSubscription,
): Response {
  c.header("Cache-Control", "no-cache");
  c.header("X-Accel-Buffering", "no");
  return streamSSE(c, async (stream) => {
    let id = 0;
    let writing = Promise.resolve();
    const sub = subscribe((event) => {
      const data = JSON.stringify(event);
      writing = writing.then(() => stream.writeSSE({ event: event.type, id: String(++id), data }));
    });
    const ping = setInterval(() => {
      writing = writing.then(() => stream.write(": ping\n\n")).then(() => undefined);
    }, 15_000);
    stream.onAbort(() => sub.stop());
    try {
      await sub.done;
      await writing;
    } finally {
      clearInterval(ping);
      sub.stop();
    }
  });
}
