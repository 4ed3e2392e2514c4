/** Parses exit-code lists (`[0]`, `[75, "100-110"]`) into sets of numbers. */

/** One entry of an exit-code list as written: a number or an inclusive `"a-b"` range. */
export type ExitCodeEntry = number | string;

/** Parses one list into a sorted array of codes 0–255. */
export function parseExitCodes(entries: ExitCodeEntry | readonly ExitCodeEntry[]): number[] {
  const list: readonly ExitCodeEntry[] =
    typeof entries === "object" ? (entries as readonly ExitCodeEntry[]) : [entries];
  const codes = new Set<number>();
  for (const entry of list) {
    if (typeof entry === "number") {
      codes.add(entry);
      continue;
    }
    const [from, to] = entry.split("-").map((part) => Number(part.trim()));
    if (from === undefined || to === undefined || !(from <= to) || to > 255) {
      throw new RangeError(`Expected an exit code range like "1-255" (low to high, at most 255), got "${entry}"`);
    }
    for (let code = from; code <= to; code++) codes.add(code);
  }
  return [...codes].sort((a, b) => a - b);
}

/** Formats a set of codes compactly for display and serialization: `[0, "3-5", 75]`. */
export function formatExitCodes(codes: Iterable<number>): ExitCodeEntry[] {
  const sorted = [...new Set(codes)].sort((a, b) => a - b);
  const out: ExitCodeEntry[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    const [low, high] = [sorted[i] as number, sorted[j] as number];
    if (j - i >= 2) out.push(`${low}-${high}`);
    else for (let k = i; k <= j; k++) out.push(sorted[k] as number);
    i = j + 1;
  }
  return out;
}
