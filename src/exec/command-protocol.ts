import type { LogLevel } from "../engine/log-level.ts";
import { toLogLevel } from "./log-levels.ts";

/**
 * The stdout command protocol (README "Script tasks"): GitHub Actions workflow commands
 * `::name k=v,k=v::data` plus Kestra-style `::{"outputs":{…}}::` lines. Command lines are consumed;
 * every other line passes through untouched. The hot path is a line that does not start with
 * "::": it is handed on as the slice it already is, with no other allocation.
 */

/** A command recognized on stdout. Property keys are lower-cased; values and data are unescaped. */
export type ProtocolCommand =
  | { readonly type: "log"; readonly level: LogLevel; readonly message: string }
  | { readonly type: "progress"; readonly percent: number | null; readonly message: string }
  | { readonly type: "set-state"; readonly key: string; readonly value: string }
  | { readonly type: "set-output"; readonly key: string; readonly value: unknown }
  | { readonly type: "heartbeat" }
  | { readonly type: "add-mask"; readonly value: string }
  | { readonly type: "group"; readonly title: string }
  | { readonly type: "endgroup" };

/**
 * Which stdout commands a task kind honours: `on` (all), `file-only` (all but `set-output`,
 * `set-state` and `::{"outputs"}::`, which must use the $KILN_OUTPUT / $KILN_STATE files), `off`
 * (none: every line is plain output).
 */
export type CommandsMode = "on" | "off" | "file-only";

function isDataCommand(command: ProtocolCommand): boolean {
  return command.type === "set-output" || command.type === "set-state";
}

/** Receives what the parser finds: plain lines, and commands. */
export interface ProtocolSink {
  line(text: string): void;
  command(command: ProtocolCommand): void;
}

const COLON = 58;

/** Unescapes command data: `%0D`, `%0A`, then `%25` (GitHub's order, so `%250A` stays `%0A`). */
export function unescapeData(text: string): string {
  if (!text.includes("%")) return text;
  return text.replace(/%0D/gi, "\r").replace(/%0A/gi, "\n").replace(/%25/g, "%");
}

/** Unescapes a property value: data escapes plus `%3A` (:) and `%2C` (,). */
export function unescapeProperty(text: string): string {
  if (!text.includes("%")) return text;
  return text
    .replace(/%0D/gi, "\r")
    .replace(/%0A/gi, "\n")
    .replace(/%3A/gi, ":")
    .replace(/%2C/gi, ",")
    .replace(/%25/g, "%");
}

/** Escapes data for a command line (used by clients such as the `kiln` CLI and tests). */
export function escapeData(text: string): string {
  return text.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** Escapes a property value for a command line. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, "%3A").replace(/,/g, "%2C");
}

function parseProperties(text: string): Map<string, string> {
  const properties = new Map<string, string>();
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    properties.set(part.slice(0, eq).trim().toLowerCase(), unescapeProperty(part.slice(eq + 1)));
  }
  return properties;
}

/** Parses one workflow-command line (starting with "::") into commands; null when it is not one. */
function parseCommandLine(line: string): ProtocolCommand[] | null {
  if (line.charCodeAt(2) === 123 /* { */) return parseKestraLine(line);
  const end = line.indexOf("::", 2);
  if (end < 0) return null;
  const head = line.slice(2, end);
  const space = head.indexOf(" ");
  const name = (space < 0 ? head : head.slice(0, space)).toLowerCase();
  const properties = space < 0 ? new Map<string, string>() : parseProperties(head.slice(space + 1));
  const data = unescapeData(line.slice(end + 2));
  switch (name) {
    case "log": {
      const level = toLogLevel(properties.get("level") ?? "info") ?? "info";
      return [{ type: "log", level, message: data }];
    }
    case "debug":
    case "notice":
    case "warning":
    case "error":
      return [{ type: "log", level: name, message: data }];
    case "progress": {
      const raw = properties.get("percent") ?? properties.get("value");
      const percent = raw === undefined || raw.trim() === "" ? null : Number(raw);
      if (percent !== null && !Number.isFinite(percent)) return null;
      return [
        { type: "progress", percent: percent === null ? null : Math.min(100, Math.max(0, percent)), message: data },
      ];
    }
    case "set-state":
    case "save-state": {
      const key = (properties.get("key") ?? properties.get("name"))?.trim();
      return key ? [{ type: "set-state", key, value: data }] : null;
    }
    case "set-output": {
      const key = (properties.get("key") ?? properties.get("name"))?.trim();
      return key ? [{ type: "set-output", key, value: data }] : null;
    }
    case "heartbeat":
      return [{ type: "heartbeat" }];
    case "add-mask":
      return [{ type: "add-mask", value: data }];
    case "group":
      return [{ type: "group", title: data }];
    case "endgroup":
      return [{ type: "endgroup" }];
    default:
      return null;
  }
}

/** `::{"outputs":{…},"logs":[{"level":…,"message":…}]}::` (Kestra). Anything else is a plain line. */
function parseKestraLine(line: string): ProtocolCommand[] | null {
  if (!line.endsWith("::") || line.length < 6) return null;
  let body: unknown;
  try {
    body = JSON.parse(line.slice(2, -2));
  } catch {
    return null;
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) return null;
  const { outputs, logs } = body as { outputs?: unknown; logs?: unknown };
  const commands: ProtocolCommand[] = [];
  if (outputs !== null && typeof outputs === "object" && !Array.isArray(outputs)) {
    for (const [key, value] of Object.entries(outputs)) commands.push({ type: "set-output", key, value });
  }
  if (Array.isArray(logs)) {
    for (const entry of logs as { level?: unknown; message?: unknown }[]) {
      commands.push({
        type: "log",
        level: toLogLevel(String(entry?.level ?? "info")) ?? "info",
        message: String(entry?.message ?? ""),
      });
    }
  }
  return commands.length > 0 ? commands : null;
}

/**
 * Splits stdout text into lines and recognizes commands. Feed decoded text with `push` (chunks may
 * split lines anywhere) and call `end` once. A line longer than `maxLineLength` is handed on in
 * pieces so that memory stays bounded whatever the script prints.
 */
export class CommandProtocolParser {
  readonly #sink: ProtocolSink;
  readonly #maxLineLength: number;
  readonly #mode: CommandsMode;
  #partial = "";
  /** While commands are stopped (`::stop-commands::TOKEN`), the line that resumes them. */
  #resumeLine: string | null = null;

  constructor(sink: ProtocolSink, options: Readonly<{ maxLineLength?: number; mode?: CommandsMode }> = {}) {
    this.#sink = sink;
    this.#maxLineLength = options.maxLineLength ?? 64 * 1024;
    this.#mode = options.mode ?? "on";
  }

  /** Feeds decoded text. */
  push(text: string): void {
    let start = 0;
    let newline = text.indexOf("\n");
    if (this.#partial !== "") {
      if (newline < 0) {
        this.#partial += text;
        this.#flushLongPartial();
        return;
      }
      const line = this.#partial + text.slice(0, newline);
      this.#partial = "";
      this.#line(line);
      start = newline + 1;
      newline = text.indexOf("\n", start);
    }
    while (newline >= 0) {
      this.#line(text.slice(start, newline));
      start = newline + 1;
      newline = text.indexOf("\n", start);
    }
    if (start < text.length) {
      this.#partial = text.slice(start);
      this.#flushLongPartial();
    }
  }

  /** Flushes a last line without a newline. */
  end(): void {
    if (this.#partial !== "") {
      const line = this.#partial;
      this.#partial = "";
      this.#line(line);
    }
  }

  /** Handles one complete line (also usable directly when lines are already split). */
  feedLine(line: string): void {
    this.#line(line);
  }

  #flushLongPartial(): void {
    while (this.#partial.length > this.#maxLineLength) {
      this.#sink.line(this.#partial.slice(0, this.#maxLineLength));
      this.#partial = this.#partial.slice(this.#maxLineLength);
    }
  }

  #line(raw: string): void {
    const line = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw;
    if (this.#mode === "off" || line.charCodeAt(0) !== COLON || line.charCodeAt(1) !== COLON) {
      this.#sink.line(line);
      return;
    }
    if (this.#resumeLine !== null) {
      if (line === this.#resumeLine) this.#resumeLine = null;
      else this.#sink.line(line);
      return;
    }
    if (line.startsWith("::stop-commands::")) {
      const token = line.slice("::stop-commands::".length);
      if (token.length > 0) {
        this.#resumeLine = `::${token}::`;
        return;
      }
    }
    const commands = parseCommandLine(line);
    // file-only: outputs and state come from $KILN_OUTPUT / $KILN_STATE only, so a script that
    // echoes its input cannot be made to set them; such a line stays a plain log line.
    if (commands === null || (this.#mode === "file-only" && commands.some(isDataCommand))) {
      this.#sink.line(line);
      return;
    }
    for (const command of commands) this.#sink.command(command);
  }
}
