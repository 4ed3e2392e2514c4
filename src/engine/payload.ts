import { KilnError } from "../errors.ts";
import { replaceNulInJson } from "./free-text.ts";

/** The default cap on one JSON payload (input, output, event, step result): 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576;

/**
 * Encodes a value as JSON for storage, enforcing the size cap. `what` names the payload in the
 * error ("input", "output of step fetch"). `undefined` encodes as null.
 */
export function encodePayload(value: unknown, what: string, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (cause) {
    throw new KilnError("INVALID_INPUT", `The ${what} is not serializable as JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  if (text === undefined) text = "null";
  text = replaceNulInJson(text);
  const bytes = text.length > maxBytes / 4 ? Buffer.byteLength(text) : text.length;
  if (bytes > maxBytes) {
    throw new KilnError(
      "PAYLOAD_TOO_LARGE",
      `The ${what} is ${bytes} bytes of JSON, over the ${maxBytes}-byte limit; store large data elsewhere and pass a reference`,
      { data: { bytes, maxBytes } },
    );
  }
  return text;
}

/** Decodes stored JSON (null/undefined column → null). */
export function decodePayload(text: string | null | undefined): unknown {
  if (text === null || text === undefined) return null;
  return JSON.parse(text);
}

/** Parses JSON typed by a user (CLI, API), with an error that says what to fix. */
export function parseJsonInput(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new KilnError("INVALID_JSON", `The ${what} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

/**
 * The error a step's result gets when it is over the payload cap, or undefined when it fits. The
 * step fails with it (not retried: the same code returns the same size), instead of the store
 * refusing the write and leaving the run claimed with nothing recorded.
 */
export function oversizeStepOutput(
  output: unknown,
  stepName: string,
  maxBytes = DEFAULT_MAX_PAYLOAD_BYTES,
): KilnError | undefined {
  if (output === null || output === undefined || typeof output === "number" || typeof output === "boolean") {
    return undefined;
  }
  try {
    encodePayload(output, `result of step "${stepName}"`, maxBytes);
    return undefined;
  } catch (error) {
    if (!(error instanceof KilnError)) throw error;
    return new KilnError(error.code, error.message, { retryable: false, data: error.data ?? {}, cause: error });
  }
}
