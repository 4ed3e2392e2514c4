/**
 * Splits decoded text chunks into lines (without the newline or a trailing CR). A line longer than
 * `maxLineLength` is handed on in pieces, so memory stays bounded whatever a process prints.
 */
export class LineSplitter {
  readonly #onLine: (line: string) => void;
  readonly #maxLineLength: number;
  #partial = "";

  constructor(onLine: (line: string) => void, options: Readonly<{ maxLineLength?: number }> = {}) {
    this.#onLine = onLine;
    this.#maxLineLength = options.maxLineLength ?? 64 * 1024;
  }

  push(text: string): void {
    let start = 0;
    for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n", start)) {
      const piece = text.slice(start, newline);
      const line = this.#partial === "" ? piece : this.#partial + piece;
      this.#partial = "";
      this.#emit(line);
      start = newline + 1;
    }
    if (start < text.length) {
      this.#partial += text.slice(start);
      while (this.#partial.length > this.#maxLineLength) {
        this.#onLine(this.#partial.slice(0, this.#maxLineLength));
        this.#partial = this.#partial.slice(this.#maxLineLength);
      }
    }
  }

  /** Flushes a last line without a newline. */
  end(): void {
    if (this.#partial === "") return;
    const line = this.#partial;
    this.#partial = "";
    this.#emit(line);
  }

  #emit(line: string): void {
    this.#onLine(line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line);
  }
}
