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
  rejectNul(result.data, [where]);
  return result.data;
}

/**
 * Free-form JSON and free text under these body keys may hold NUL: the store replaces it with
 * U+FFFD (src/engine/free-text.ts). Everywhere else (names, keys, queues, sources, filters, ids)
 * a NUL is refused: PostgreSQL cannot store it and a name with one is never what was meant.
 */
const FREE_TEXT_KEYS = new Set(["input", "output", "metadata", "payload", "error", "message", "state", "progress"]);

/** INVALID_INPUT naming the first string (or object key) with a NUL outside the free-text keys. */
function rejectNul(value: unknown, path: string[]): void {
  if (typeof value === "string") {
    if (value.includes("\u0000")) {
      throw new KilnError(
        "INVALID_INPUT",
        `Invalid request ${path.join(".")}: must not contain a NUL character (\\u0000)`,
        {
          data: { issues: [{ path: path.join("."), message: "must not contain a NUL character" }] },
        },
      );
    }
  } else if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) rejectNul(item, [...path, String(i)]);
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      rejectNul(key, [...path, key]);
      if (!FREE_TEXT_KEYS.has(key)) rejectNul(item, [...path, key]);
    }
  }
}
