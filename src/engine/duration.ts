import { KilnError } from "../errors.ts";

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PART = /(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d|w)/gy;

/**
 * Parses a human duration (`"1h30m"`, `"250ms"`, `"5s"`, or a number of milliseconds) into
 * milliseconds. `what` names the option in the error, e.g. `"timeout"`.
 */
export function parseDuration(value: string | number, what = "duration"): number {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value >= 0) return value;
    throw new KilnError("INVALID_DURATION", `Expected "${what}" to be a non-negative duration, got ${value}`);
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  let consumed = 0;
  PART.lastIndex = 0;
  for (let match = PART.exec(text); match !== null; match = PART.exec(text)) {
    total += Number(match[1]) * (UNIT_MS[match[2] as string] ?? Number.NaN);
    consumed = PART.lastIndex;
    while (text[PART.lastIndex] === " ") PART.lastIndex++;
    consumed = PART.lastIndex;
  }
  if (text.length === 0 || consumed !== text.length || !Number.isFinite(total)) {
    throw new KilnError(
      "INVALID_DURATION",
      `Expected "${what}" to be a duration like "30s", "5m", "1h30m" or a number of milliseconds, got "${value}"`,
    );
  }
  return Math.round(total);
}

/** Formats milliseconds for humans: 1500 → "1.5s", 90000 → "1m30s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return seconds ? `${minutes}m${seconds}s` : `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 ? `${hours}h${minutes % 60}m` : `${hours}h`;
}
