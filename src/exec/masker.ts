/**
 * Replaces secrets and `::add-mask::` values by `***` in everything that leaves exec: log lines,
 * outputs, state, error messages, stdout/stderr tails. Text is masked line by line (after lines
 * are reassembled from chunks), so a value split across two stdout chunks is still caught; a
 * multi-line value is masked line by line as well.
 */

/** What masked text shows instead of a secret. */
export const MASK = "***";

/** A set of values to hide, growing as the script adds masks. */
export class Masker {
  #values: string[] = [];

  constructor(values: Iterable<string> = []) {
    for (const value of values) this.add(value);
  }

  /** Adds a value (and each of its lines) to hide from now on. Blank values are ignored. */
  add(value: string): void {
    const parts = value.includes("\n") ? [value, ...value.split(/\r?\n/)] : [value];
    let changed = false;
    for (const part of parts) {
      const trimmed = part.trim();
      if (trimmed === "" || this.#values.includes(trimmed)) continue;
      this.#values.push(trimmed);
      changed = true;
    }
    // Longer values first, so that a secret containing another is masked whole.
    if (changed) this.#values.sort((a, b) => b.length - a.length);
  }

  /** Whether there is anything to mask. */
  get size(): number {
    return this.#values.length;
  }

  /** Masks one text. */
  mask(text: string): string {
    let out = text;
    for (const value of this.#values) {
      if (out.includes(value)) out = out.replaceAll(value, MASK);
    }
    return out;
  }

  /** Masks every string inside a JSON-like value (object keys too); returns a new value. */
  maskDeep<T>(value: T): T {
    if (this.#values.length === 0) return value;
    return this.#deep(value) as T;
  }

  #deep(value: unknown): unknown {
    if (typeof value === "string") return this.mask(value);
    if (Array.isArray(value)) return value.map((item) => this.#deep(item));
    if (value !== null && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) out[this.mask(key)] = this.#deep(item);
      return out;
    }
    return value;
  }
}
