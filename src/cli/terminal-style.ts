/**
 * Whether the CLI colours what it prints, decided once per stream, as Node's own `hasColors()`:
 * FORCE_COLOR wins (`0`/`false` turns colour off), then a non-empty NO_COLOR (no-color.org)
 * turns it off, then `TERM=dumb`; otherwise colour only on a terminal.
 */
export function colorEnabled(isTTY: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !["0", "false"].includes(force.trim().toLowerCase());
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.TERM === "dumb") return false;
  return isTTY;
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;

/** A colour or weight `paint` knows. */
export type Style = keyof typeof CODES;

/** Wraps `text` in the style's ANSI codes when `color` is on, else returns it as is. */
export function paint(color: boolean, style: Style, text: string): string {
  return color ? `\u001b[${CODES[style]}m${text}\u001b[${style === "bold" ? 22 : 39}m` : text;
}

/** The colour of a run or step status in tables: green done, red failed, yellow waiting, cyan running. */
export function statusStyle(status: string): Style {
  if (status === "completed") return "green";
  if (["failed", "timed_out", "cancelled", "crashed"].includes(status)) return "red";
  if (status === "running") return "cyan";
  return "yellow";
}
