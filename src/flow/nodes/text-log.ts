/**
 * Streams a model's text into the run log a line at a time: tokens arrive a few characters at
 * once, and one log entry per token would bury the log. Long lines are cut so a model that never
 * writes a newline still shows progress.
 */
export class TextLog {
  readonly #write: (line: string) => void;
  readonly #maxLine: number;
  #buffer = "";

  constructor(write: (line: string) => void, maxLine = 400) {
    this.#write = write;
    this.#maxLine = maxLine;
  }

  /** Adds streamed text; complete lines are logged. */
  push(delta: string): void {
    this.#buffer += delta;
    for (;;) {
      const newline = this.#buffer.indexOf("\n");
      if (newline < 0) break;
      this.#emit(this.#buffer.slice(0, newline));
      this.#buffer = this.#buffer.slice(newline + 1);
    }
    while (this.#buffer.length >= this.#maxLine) {
      this.#emit(this.#buffer.slice(0, this.#maxLine));
      this.#buffer = this.#buffer.slice(this.#maxLine);
    }
  }

  /** Logs what is left. */
  flush(): void {
    if (this.#buffer !== "") this.#emit(this.#buffer);
    this.#buffer = "";
  }

  #emit(line: string): void {
    if (line.trim() !== "") this.#write(line);
  }
}
