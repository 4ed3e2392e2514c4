/**
 * Line buffers with a size budget, so that a script printing gigabytes costs bounded memory.
 * Sizes are counted in UTF-16 code units plus one per newline (bytes for ASCII text).
 */

/** Keeps the last `maxSize` worth of lines. */
export class TailLines {
  readonly #maxSize: number;
  // Dropped lines are cleared at once (the slot set to ""), so that a few huge lines cannot pin
  // memory until the next compaction.
  readonly #lines: string[] = [];
  #head = 0;
  #size = 0;

  constructor(maxSize: number) {
    this.#maxSize = maxSize;
  }

  push(line: string): void {
    // A single huge line keeps only its end.
    const kept = line.length > this.#maxSize ? line.slice(line.length - this.#maxSize) : line;
    this.#lines.push(kept);
    this.#size += kept.length + 1;
    while (this.#size > this.#maxSize && this.#head < this.#lines.length - 1) {
      this.#size -= (this.#lines[this.#head] as string).length + 1;
      this.#lines[this.#head] = "";
      this.#head++;
    }
    // Compact now and then instead of shifting on every line.
    if (this.#head > 1024 && this.#head * 2 > this.#lines.length) {
      this.#lines.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** The kept lines, oldest first. */
  lines(): string[] {
    return this.#lines.slice(this.#head);
  }

  /** The kept lines joined with newlines. */
  text(): string {
    return this.lines().join("\n");
  }
}

/** What a HeadTail buffer dropped between its head and its tail. */
export interface Omitted {
  readonly items: number;
  readonly size: number;
}

/**
 * Keeps the first `headSize` worth of items and the last `tailSize` worth, counting what is
 * dropped in between. With `onHead`, head items are handed on at once instead of being kept (logs
 * stream live; only the tail waits for the end).
 */
export class HeadTail<T> {
  readonly #headSize: number;
  readonly #tailSize: number;
  readonly #sizeOf: (item: T) => number;
  readonly #onHead: ((item: T) => void) | undefined;
  readonly #head: T[] = [];
  // Dropped slots are cleared at once (set to undefined), so that large items are not pinned
  // until the next compaction.
  #tail: (T | undefined)[] = [];
  #tailStart = 0;
  #tailUsed = 0;
  #headUsed = 0;
  #inTail = false;
  #omittedItems = 0;
  #omittedSize = 0;
  #totalSize = 0;

  constructor(
    options: Readonly<{ headSize: number; tailSize: number; sizeOf: (item: T) => number; onHead?: (item: T) => void }>,
  ) {
    this.#headSize = options.headSize;
    this.#tailSize = options.tailSize;
    this.#sizeOf = options.sizeOf;
    this.#onHead = options.onHead;
  }

  push(item: T): void {
    const size = this.#sizeOf(item);
    this.#totalSize += size;
    if (!this.#inTail && this.#headUsed + size <= this.#headSize) {
      this.#headUsed += size;
      if (this.#onHead) this.#onHead(item);
      else this.#head.push(item);
      return;
    }
    this.#inTail = true;
    if (size > this.#tailSize) {
      this.#omittedItems++;
      this.#omittedSize += size;
      return;
    }
    this.#tail.push(item);
    this.#tailUsed += size;
    while (this.#tailUsed > this.#tailSize) {
      const dropped = this.#tail[this.#tailStart] as T;
      this.#tail[this.#tailStart] = undefined;
      this.#tailStart++;
      const droppedSize = this.#sizeOf(dropped);
      this.#tailUsed -= droppedSize;
      this.#omittedItems++;
      this.#omittedSize += droppedSize;
    }
    if (this.#tailStart > 1024 && this.#tailStart * 2 > this.#tail.length) {
      this.#tail = this.#tail.slice(this.#tailStart);
      this.#tailStart = 0;
    }
  }

  /** Total size pushed, kept or not. */
  get totalSize(): number {
    return this.#totalSize;
  }

  /** What was dropped between head and tail. */
  omitted(): Omitted {
    return { items: this.#omittedItems, size: this.#omittedSize };
  }

  /** The head items (empty when they were handed to `onHead`). */
  head(): T[] {
    return this.#head;
  }

  /** The tail items, oldest first. */
  tail(): T[] {
    return this.#tail.slice(this.#tailStart) as T[];
  }
}

/** Formats a size for messages: 1536 → "1.5 KB". */
export function formatSize(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${Number((size / 1024).toFixed(1))} KB`;
  return `${Number((size / 1024 / 1024).toFixed(1))} MB`;
}
