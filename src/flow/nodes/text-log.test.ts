import assert from "node:assert/strict";
import { it } from "node:test";
import { citedIds } from "./rag-answer.ts";
import { sseData } from "./sse-events.ts";
import { TextLog } from "./text-log.ts";

it("TextLog logs streamed text a line at a time, cuts long lines, and flushes the rest", () => {
  const lines: string[] = [];
  const log = new TextLog((line) => lines.push(line), 10);
  for (const piece of ["Hel", "lo\nwor", "ld", "\n\n", "0123456789abc"]) log.push(piece);
  assert.deepEqual(lines, ["Hello", "world", "0123456789"]);
  log.flush();
  assert.deepEqual(lines, ["Hello", "world", "0123456789", "abc"]);
});

it("sseData yields the data of each event, across chunk boundaries and CRLF line ends", async () => {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of ['data: {"a":1}\r\n\r\nevent: x\nda', "ta: two\ndata: lines\n\n: comment\n\ndata: [DONE]"]) {
        controller.enqueue(encoder.encode(part));
      }
      controller.close();
    },
  });
  const seen: string[] = [];
  for await (const data of sseData(body)) seen.push(data);
  assert.deepEqual(seen, ['{"a":1}', "two\nlines", "[DONE]"]);
});

it("citedIds keeps the retrieved ids an answer cites, in order, once each, ignoring invented ones", () => {
  const chunks = ["a", "b", "c"].map((id) => ({ id, text: id, metadata: {}, distance: 0 }));
  assert.deepEqual(citedIds("One [b]. Two [a, b]. Three [zz]. Four [c][b]", chunks), ["b", "a", "c"]);
  assert.deepEqual(citedIds("No citations", chunks), []);
});
