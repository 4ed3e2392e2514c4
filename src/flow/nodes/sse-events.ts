/**
 * The `data:` payloads of a server-sent events stream, in order. Only what the OpenAI-compatible
 * streaming format uses: events separated by a blank line, `data:` lines joined by newlines,
 * comments and other fields ignored.
 */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  const take = function* (final: boolean): Generator<string> {
    buffer = buffer.replace(/\r\n?/g, "\n");
    for (;;) {
      const end = buffer.indexOf("\n\n");
      if (end < 0 && !final) return;
      const event = end < 0 ? buffer : buffer.slice(0, end);
      buffer = end < 0 ? "" : buffer.slice(end + 2);
      const data = event
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""));
      if (data.length > 0) yield data.join("\n");
      if (end < 0) return;
    }
  };
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    yield* take(false);
  }
  buffer += decoder.decode();
  yield* take(true);
}
