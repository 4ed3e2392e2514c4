import type { z } from "zod";
import { KilnError } from "../errors.ts";
import type { AppContext } from "./api-route.ts";
import { invalidInput } from "./error-response.ts";

/**
 * Reads a request body as JSON, at most `maxBytes` (PAYLOAD_TOO_LARGE beyond, checked on the
 * declared length and while reading), INVALID_JSON when it does not parse. An empty body is
 * `undefined`.
 */
export async function readJsonBody(c: AppContext, maxBytes: number): Promise<unknown> {
  const declared = Number(c.req.header("content-length") ?? Number.NaN);
  const tooLarge = (n: number) =>
    new KilnError("PAYLOAD_TOO_LARGE", `The request body is ${n} bytes or more, over the ${maxBytes}-byte limit`, {
      data: { maxBytes },
    });
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(declared);
  let text: string;
  if (Number.isFinite(declared)) {
    // A declared length (which Node's parser enforces) allows the adapter's fast path: the body is
    // read straight from the socket, without web streams.
    text = await c.req.raw.text();
  } else {
    text = await readCapped(c, maxBytes, tooLarge);
  }
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new KilnError("INVALID_JSON", `The request body is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

/** Reads a body of unknown length (chunked), failing as soon as it passes the cap. */
async function readCapped(c: AppContext, maxBytes: number, tooLarge: (n: number) => KilnError): Promise<string> {
  const stream = c.req.raw.body;
  if (!stream) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(size);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Validates a value with a zod schema; INVALID_INPUT with the path of each problem. */
export function validate<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: "body" | "query" | "params",
): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(where, result.error);
  return result.data;
}
