/** Times and durations as people read them in tables: "3 min ago", "in 2 h", "1.2 s". */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A duration in the largest unit that keeps it short: 850 → "850 ms", 1234 → "1.2 s", 95000 → "1 min 35 s". */
export function humanDuration(ms: number): string {
  const abs = Math.max(0, ms);
  if (abs < 1000) return `${Math.round(abs)} ms`;
  if (abs < MINUTE) return `${Number((abs / 1000).toFixed(1))} s`;
  if (abs < HOUR) {
    const s = Math.floor((abs % MINUTE) / 1000);
    return `${Math.floor(abs / MINUTE)} min${s ? ` ${s} s` : ""}`;
  }
  if (abs < DAY) {
    const m = Math.floor((abs % HOUR) / MINUTE);
    return `${Math.floor(abs / HOUR)} h${m ? ` ${m} min` : ""}`;
  }
  const h = Math.floor((abs % DAY) / HOUR);
  return `${Math.floor(abs / DAY)} d${h ? ` ${h} h` : ""}`;
}

/** An instant relative to `now` in one rounded unit: "just now", "3 min ago", "in 2 h"; older than a week: the date. */
export function timeAgo(at: number, now: number = Date.now()): string {
  const delta = now - at;
  const abs = Math.abs(delta);
  if (abs < 5000) return "just now";
  if (abs > 7 * DAY) return new Date(at).toISOString().slice(0, 10);
  const unit =
    abs < MINUTE
      ? `${Math.floor(abs / 1000)} s`
      : abs < HOUR
        ? `${Math.floor(abs / MINUTE)} min`
        : abs < DAY
          ? `${Math.floor(abs / HOUR)} h`
          : `${Math.floor(abs / DAY)} d`;
  return delta >= 0 ? `${unit} ago` : `in ${unit}`;
}
