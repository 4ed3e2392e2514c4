import type { Run } from "../engine/run.ts";
import type { Step } from "../engine/step.ts";
import { formatDuration } from "../engine/duration.ts";
import { colorEnabled } from "./terminal-style.ts";

/** What `-o` selects: a table (or text) for people, one JSON document, or one JSON line per item. */
export type OutputFormat = "table" | "json" | "jsonl";

/** Where command output goes; tests capture it. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  readonly isTTY: boolean;
  /** Colour in tables and statuses (NO_COLOR / FORCE_COLOR / a terminal); off when absent. */
  readonly color?: boolean;
  /** `-o jsonl`: JSON values print on one line each, a list one item per line. */
  readonly format?: OutputFormat;
}

/** The process's stdout/stderr. */
export const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  get isTTY() {
    return Boolean(process.stdout.isTTY);
  },
  get color() {
    return colorEnabled(Boolean(process.stdout.isTTY));
  },
};

/**
 * Prints a value as pretty JSON; with `-o jsonl`, on one line, and a page (`{ items }`) as one
 * line per item so `jq -c`/`while read` consume it without buffering the whole list.
 */
export function printJson(output: Output, value: unknown): void {
  if (output.format !== "jsonl") {
    output.out(JSON.stringify(value, null, 2));
    return;
  }
  const items = (value as { items?: unknown } | null)?.items;
  if (Array.isArray(items)) for (const item of items) output.out(JSON.stringify(item));
  else output.out(JSON.stringify(value));
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour codes are control sequences.
const ANSI = /\u001b\[[0-9;]*m/g;

/** A fixed-width text table; cells may hold colour codes (widths count visible characters). */
export function table(rows: readonly (readonly string[])[], header: readonly string[]): string {
  const all = [header, ...rows];
  const width = (c: string) => c.replace(ANSI, "").length;
  const widths = header.map((_, i) => Math.max(...all.map((r) => width(r[i] ?? ""))));
  return all
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat((widths[i] ?? 0) - width(c)))).join("  "))
    .join("\n");
}

/** A run as a few human lines, with its steps. */
export function describeRun(run: Run & { steps?: readonly Step[] }): string {
  const lines = [
    `run       ${run.id}`,
    `${run.type.padEnd(9)} ${run.name}${run.version ? ` (version ${run.version})` : ""}`,
    `status    ${run.status}`,
    `attempt   ${run.attempt}`,
  ];
  if (run.progress) {
    // A completed run is done whatever its script last reported (a task may stop reporting at 50%).
    const percent = run.status === "completed" ? 100 : (run.progress.percent ?? "?");
    lines.push(`progress  ${percent}% ${run.progress.message ?? ""}`.trimEnd());
  }
  if (run.startedAt && run.finishedAt) lines.push(`took      ${formatDuration(run.finishedAt - run.startedAt)}`);
  if (run.output !== null && run.output !== undefined) lines.push(`output    ${JSON.stringify(run.output)}`);
  if (run.error) lines.push(`error     ${run.error.code}: ${run.error.message}`);
  if (Object.keys(run.state ?? {}).length) lines.push(`state     ${JSON.stringify(run.state)}`);
  if (run.steps?.length) {
    lines.push("steps");
    for (const s of run.steps) {
      const detail = s.error ? ` ${s.error.code}: ${s.error.message}` : "";
      lines.push(
        `  ${s.name.padEnd(24)} ${s.type.padEnd(12)} ${s.status}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ""}${detail}`,
      );
    }
  }
  return lines.join("\n");
}

/** A one-line progress bar for terminals. */
export function progressBar(percent: number, width = 30): string {
  const p = Math.max(0, Math.min(100, percent));
  const filled = Math.round((p / 100) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(Math.round(p)).padStart(3)}%`;
}
