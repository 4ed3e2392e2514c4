import { readFile, stat } from "node:fs/promises";
import type { OutputFormat } from "../config/resolved-config.ts";
import { KilnError } from "../errors.ts";
import { formatSize, HeadTail } from "./bounded-lines.ts";
import { isPlainObject } from "./env-names.ts";

/** How many characters of unparsable output an error shows. */
const PREVIEW = 200;

/** The stdout capture an output format needs (null: none). Sizes are in characters. */
export function outputCapture(format: OutputFormat, maxSize: number): HeadTail<string> | null {
  const sizeOf = (line: string) => line.length + 1;
  if (format === "stdout") {
    const head = Math.floor(maxSize / 2);
    return new HeadTail({ headSize: head, tailSize: maxSize - head, sizeOf });
  }
  if (format === "json_stdout") return new HeadTail({ headSize: maxSize, tailSize: 0, sizeOf });
  return null;
}

/** Merges `::set-output` keys into a format's output (a non-object output goes under `result`). */
export function mergeOutputs(base: unknown, outputs: Readonly<Record<string, unknown>>): unknown {
  if (Object.keys(outputs).length === 0) return base;
  if (base === undefined || base === null) return { ...outputs };
  if (isPlainObject(base)) return { ...base, ...outputs };
  return { result: base, ...outputs };
}

/** What reading the output needs. */
export interface OutputSources {
  readonly format: OutputFormat;
  readonly capture: HeadTail<string> | null;
  /** The file read by `file` output (absolute). */
  readonly outputFile: string | null;
  readonly maxOutputSizeKb: number;
  readonly exitCode: number | null;
  /** Whether `::set-output` keys exist (then json_stdout may print nothing). */
  readonly hasOutputs: boolean;
}

/** The output of an attempt, or why it could not be read. */
export type OutputResult =
  | { readonly ok: true; readonly output: unknown }
  | { readonly ok: false; readonly error: KilnError };

const preview = (text: string) => JSON.stringify(text.length > PREVIEW ? `${text.slice(0, PREVIEW)}…` : text);

function tooLarge(what: string, size: number, maxKb: number): KilnError {
  return new KilnError(
    "OUTPUT_TOO_LARGE",
    `The ${what} is ${formatSize(size)}, over max_output_size_kb ${maxKb}; write large data elsewhere and output a reference`,
    { retryable: false, data: { size, maxOutputSizeKb: maxKb } },
  );
}

function parseJson(text: string, what: string): OutputResult {
  try {
    return { ok: true, output: JSON.parse(text) };
  } catch (cause) {
    return {
      ok: false,
      error: new KilnError(
        "OUTPUT_INVALID_JSON",
        `The ${what} is not valid JSON (${(cause as Error).message}); it starts with ${preview(text)}`,
        { retryable: false, cause, data: { preview: text.slice(0, PREVIEW) } },
      ),
    };
  }
}

async function readOutputFile(path: string, maxKb: number): Promise<OutputResult> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    const error = new KilnError("EXEC_FAILED", `The script did not write its output file ${path}`, {
      retryable: false,
    });
    return { ok: false, error };
  }
  if (size > maxKb * 1024) return { ok: false, error: tooLarge(`output file ${path}`, size, maxKb) };
  const text = await readFile(path, "utf8");
  if (path.endsWith(".json")) return parseJson(text, `output file ${path}`);
  try {
    return { ok: true, output: JSON.parse(text) };
  } catch {
    return { ok: true, output: { content: text.trim() } };
  }
}

/**
 * Reads the output of an attempt in its format (before `::set-output` keys are merged):
 * `stdout` → `{ stdout }` (trimmed; head and tail kept when over the cap, with a marker),
 * `json_stdout` → the parsed stdout, `file` → the parsed file (or `{ content }` for non-JSON text
 * in a file not named *.json), `exit_code_only` → `{ exitCode }`.
 */
export async function readOutput(sources: OutputSources): Promise<OutputResult> {
  const { capture, maxOutputSizeKb } = sources;
  switch (sources.format) {
    case "stdout": {
      if (!capture) return { ok: true, output: { stdout: "" } };
      const omitted = capture.omitted();
      if (omitted.items === 0) return { ok: true, output: { stdout: capture.head().join("\n").trim() } };
      const marker = `[… ${omitted.items} lines (${formatSize(omitted.size)}) omitted: over max_output_size_kb ${maxOutputSizeKb} …]`;
      const stdout = [...capture.head(), marker, ...capture.tail()].join("\n").trim();
      return { ok: true, output: { stdout, truncated: true } };
    }
    case "json_stdout": {
      if (!capture) return { ok: true, output: null };
      if (capture.omitted().items > 0) {
        return { ok: false, error: tooLarge("JSON on stdout", capture.totalSize, maxOutputSizeKb) };
      }
      const text = capture.head().join("\n").trim();
      if (text === "" && sources.hasOutputs) return { ok: true, output: null };
      if (text === "") {
        const error = new KilnError(
          "OUTPUT_INVALID_JSON",
          "The script printed no JSON on stdout (output_format: json_stdout)",
          {
            retryable: false,
          },
        );
        return { ok: false, error };
      }
      return parseJson(text, "stdout (output_format: json_stdout)");
    }
    case "file":
      if (sources.outputFile === null) throw new Error("output_format file needs an output file path");
      return readOutputFile(sources.outputFile, maxOutputSizeKb);
    case "exit_code_only":
      return { ok: true, output: { exitCode: sources.exitCode } };
  }
}
